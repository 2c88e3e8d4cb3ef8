// The timing maths of failure detection, as pure functions so that they can
// be tested alone and shown on the dashboard (hashicorp/memberlist keeps
// the same split).

/**
 * The suspicion timeout floor: mult * max(1, log10(n + 1)) * probe interval.
 * SWIM §4.2 asks for a timeout that grows with the cluster because an
 * accusation takes O(log n) protocol periods to reach the accused and its
 * refutation as long again to come back.
 */
export function suspicionTimeoutMinMs(multiplier: number, clusterSize: number, probeIntervalMs: number): number {
  const scale = Math.max(1, Math.log10(Math.max(1, clusterSize) + 1));
  return Math.ceil(multiplier * scale * probeIntervalMs);
}

/**
 * How many independent accusers drive the timeout down to its floor
 * (Lifeguard §IV-B). Fewer than two other members cannot confirm anything.
 */
export function expectedConfirmations(multiplier: number, clusterSize: number): number {
  return Math.max(0, Math.min(multiplier - 2, clusterSize - 2));
}

/**
 * Lifeguard's dynamic suspicion (§IV-B): a suspicion starts at max and
 * falls logarithmically towards min as independent confirmations arrive,
 * reaching min after k of them. With k = 0 it is min.
 */
export function suspicionTimeoutMs(minMs: number, maxMs: number, confirmations: number, k: number): number {
  if (k < 1 || maxMs <= minMs) return minMs;
  const c = Math.min(Math.max(0, confirmations), k);
  const frac = Math.log(c + 1) / Math.log(k + 1);
  return Math.max(minMs, Math.floor(maxMs - frac * (maxMs - minMs)));
}

/** How many times each update is piggybacked: mult * ceil(log2(n + 1)) (SWIM §4.1, §5). */
export function retransmitLimit(retransmitMult: number, clusterSize: number): number {
  return Math.max(1, retransmitMult * Math.ceil(Math.log2(Math.max(1, clusterSize) + 1)));
}

/**
 * Lifeguard's local health multiplier (§IV-A), a score in [0, max - 1].
 * Signs that this node is the slow one (missed nacks, failed probes,
 * having to refute a suspicion about itself) raise it; a prompt ack lowers
 * it. Probe timeouts and protocol periods are stretched by score + 1, so an
 * overloaded node stops accusing healthy peers of its own slowness.
 */
export class Awareness {
  private score = 0;
  constructor(private readonly max: number) {}
  apply(delta: number): void {
    this.score = Math.min(this.max - 1, Math.max(0, this.score + delta));
  }
  get(): number {
    return this.score;
  }
  /** The factor timeouts are stretched by. */
  scale(): number {
    return this.score + 1;
  }
}

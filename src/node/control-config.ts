// The control plane's settings (config key `raft`, RINGSTORE_RAFT): Raft's
// timing, how many voters, and the deadlines clients of the control plane
// get. Parsed here so that config.ts only names the key.

import { DEFAULT_MAX_VOTERS } from '../control/driver-voters.js';

export interface RaftSettings {
  /** Milliseconds per Raft tick. */
  readonly tickMs: number;
  /** Election timeout in ticks (the actual one is drawn in [n, 2n), Raft §5.2). */
  readonly electionTicks: number;
  /** Heartbeat interval in ticks. */
  readonly heartbeatTicks: number;
  /** Voters at most (odd counts are used; the rest are learners). */
  readonly maxVoters: number;
  /** How long a proposal or a ReadIndex read waits before ControlUnavailable. */
  readonly timeoutMs: number;
  /** Compact the Raft log once this many entries are applied past the last snapshot. */
  readonly compactEvery: number;
  /** A voter unheard of for this long is replaced by a learner (0: never). */
  readonly replaceAfterMs: number;
}

export const DEFAULT_RAFT_SETTINGS: RaftSettings = Object.freeze({
  tickMs: 100,
  electionTicks: 10,
  heartbeatTicks: 1,
  maxVoters: DEFAULT_MAX_VOTERS,
  timeoutMs: 10_000,
  compactEvery: 10_000,
  replaceAfterMs: 30_000,
});

export class RaftSettingsError extends Error {
  override name = 'RaftSettingsError';
}

/** An object (or its JSON text) overriding some of the defaults; unknown names and bad values are refused with what was wrong. */
export function parseRaftSettings(v: unknown): RaftSettings {
  if (v === undefined || v === null || v === '') return DEFAULT_RAFT_SETTINGS;
  let o: unknown = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch (err) {
      throw new RaftSettingsError(`raft: not valid JSON: ${(err as Error).message}`);
    }
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new RaftSettingsError('raft: expected an object such as {"maxVoters": 5}');
  const out: Record<string, number> = { ...DEFAULT_RAFT_SETTINGS };
  for (const [k, x] of Object.entries(o as Record<string, unknown>)) {
    if (!(k in DEFAULT_RAFT_SETTINGS)) throw new RaftSettingsError(`raft: unknown setting ${JSON.stringify(k)} (known: ${Object.keys(DEFAULT_RAFT_SETTINGS).join(', ')})`);
    const min = k === 'replaceAfterMs' ? 0 : 1;
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) throw new RaftSettingsError(`raft.${k}: expected an integer >= ${min}, got ${JSON.stringify(x)}`);
    out[k] = x;
  }
  const s = out as unknown as RaftSettings;
  if (s.heartbeatTicks >= s.electionTicks) throw new RaftSettingsError(`raft: heartbeatTicks (${s.heartbeatTicks}) must be below electionTicks (${s.electionTicks})`);
  return s;
}

// The layout commands of the control state machine (issue 10; docs/layout.md):
// staging, planning's commit, and each node's progress reports. Kept apart
// from commands.ts so that the other control commands and these change
// independently; commands.ts and state.ts delegate here in a few marked lines.
//
// The layout history itself (src/layout/history.ts) is pure: these functions
// only decode the commands (the same refusal on every replica for anything
// malformed) and route them to it.

import { applyVersion, emptyHistory, report, revert, skipDead, stage, type LayoutHistory, type LayoutRefusal, type StagedChange } from '../layout/history.js';
import type { Assignment, Member } from '../layout/types.js';

export const DEFAULT_LAYOUT_PARTITIONS = 1024;
export const DEFAULT_LAYOUT_REPLICAS = 3;

export type LayoutCommand =
  /** Stage a change: `layout assign NODE --zone --capacity [--gateway]` or `layout remove NODE`. */
  | { readonly type: 'layoutStage'; readonly change: StagedChange }
  /** Drop every staged change. */
  | { readonly type: 'layoutRevert' }
  /** Commit the plan of the staged changes as version `version` (refused unless it is current + 1 and the staging is unchanged). */
  | { readonly type: 'layoutApply'; readonly version: number; readonly stagingSeq: number; readonly assignment: Assignment }
  /** A node's progress: the newest version it routes by, has synced, and reads from (each only rises). */
  | { readonly type: 'layoutProgress'; readonly node: string; readonly seen?: number; readonly synced?: number; readonly readSeen?: number }
  /** The operator declares a node dead for good, so that retirement stops waiting for its reports. */
  | { readonly type: 'layoutSkipDead'; readonly node: string };

export type LayoutErrorCode = LayoutRefusal['code'];

export const LAYOUT_COMMAND_TYPES: ReadonlySet<string> = new Set(['layoutStage', 'layoutRevert', 'layoutApply', 'layoutProgress', 'layoutSkipDead']);

export function isLayoutCommand(cmd: { readonly type: string }): cmd is LayoutCommand {
  return LAYOUT_COMMAND_TYPES.has(cmd.type);
}

export function initialLayoutHistory(): LayoutHistory {
  return emptyHistory(DEFAULT_LAYOUT_PARTITIONS, DEFAULT_LAYOUT_REPLICAS);
}

class Malformed extends Error {}

function str(v: unknown, what: string, max = 128): string {
  if (typeof v !== 'string' || v === '' || v.length > max) throw new Malformed(`${what} must be a non-empty string of at most ${max} characters`);
  return v;
}

function int(v: unknown, what: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw new Malformed(`${what} must be an integer >= ${min}`);
  return v;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Malformed(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function member(v: unknown): Member {
  const o = obj(v, 'member');
  const role = o.role;
  if (role !== 'storage' && role !== 'gateway') throw new Malformed('member.role must be storage or gateway');
  const capacity = int(o.capacity, 'member.capacity', 0);
  if (role === 'gateway' && capacity !== 0) throw new Malformed('a gateway holds no data: its capacity must be 0');
  let addresses: Member['addresses'];
  if (o.addresses !== undefined) {
    const a = obj(o.addresses, 'member.addresses');
    addresses = { rpc: str(a.rpc, 'member.addresses.rpc', 1024), ...(a.http !== undefined ? { http: str(a.http, 'member.addresses.http', 1024) } : {}) };
  }
  return { id: str(o.id, 'member.id'), zone: str(o.zone, 'member.zone'), capacity, role, ...(addresses !== undefined ? { addresses } : {}) };
}

/** The command, or why it is malformed (commands.ts turns that into its InvalidCommand). Validity never depends on state. */
export function decodeLayoutCommand(o: Record<string, unknown>): { readonly cmd: LayoutCommand } | { readonly problem: string } {
  try {
    switch (o.type) {
      case 'layoutStage': {
        const c = obj(o.change, 'change');
        if (c.op === 'assign') return { cmd: { type: 'layoutStage', change: { op: 'assign', member: member(c.member) } } };
        if (c.op === 'remove') return { cmd: { type: 'layoutStage', change: { op: 'remove', id: str(c.id, 'change.id') } } };
        throw new Malformed('change.op must be assign or remove');
      }
      case 'layoutRevert':
        return { cmd: { type: 'layoutRevert' } };
      case 'layoutApply': {
        // The assignment's shape is checked against the staging when applied (layout/history.ts applyVersion).
        const a = obj(o.assignment, 'assignment');
        return { cmd: { type: 'layoutApply', version: int(o.version, 'version', 1), stagingSeq: int(o.stagingSeq, 'stagingSeq', 0), assignment: a as unknown as Assignment } };
      }
      case 'layoutProgress': {
        const opt = (k: 'seen' | 'synced' | 'readSeen') => (o[k] === undefined ? {} : { [k]: int(o[k], k, 0) });
        return { cmd: { type: 'layoutProgress', node: str(o.node, 'node'), ...opt('seen'), ...opt('synced'), ...opt('readSeen') } };
      }
      case 'layoutSkipDead':
        return { cmd: { type: 'layoutSkipDead', node: str(o.node, 'node') } };
      default:
        return { problem: `unknown layout command ${JSON.stringify(o.type)}` };
    }
  } catch (err) {
    if (err instanceof Malformed) return { problem: err.message };
    throw err;
  }
}

/** Applies a layout command to the history: the new history, or the refusal every replica gives alike. */
export function applyLayoutCommand(h: LayoutHistory, cmd: LayoutCommand): { readonly ok: true; readonly history: LayoutHistory } | { readonly ok: false; readonly refusal: LayoutRefusal } {
  switch (cmd.type) {
    case 'layoutStage':
      return stage(h, cmd.change);
    case 'layoutRevert':
      return { ok: true, history: revert(h) };
    case 'layoutApply':
      return applyVersion(h, cmd.version, cmd.stagingSeq, cmd.assignment);
    case 'layoutProgress':
      return report(h, cmd.node, { ...(cmd.seen !== undefined ? { seen: cmd.seen } : {}), ...(cmd.synced !== undefined ? { synced: cmd.synced } : {}), ...(cmd.readSeen !== undefined ? { readSeen: cmd.readSeen } : {}) });
    case 'layoutSkipDead':
      return skipDead(h, cmd.node);
  }
}

// The control plane on the native API (docs/raft.md, "Seeing it"):
//
//   GET  /cluster/raft              this node's Raft view: role, term, leader,
//                                   commit and applied index, and per member
//                                   voter/learner, match index (as the leader
//                                   sees it), last contact
//   GET  /cluster/control           the control state as this node applied it,
//                                   without any secret (layout, buckets, users,
//                                   access key ids, admin token ids); ?confirm=1
//                                   waits for a ReadIndex first (linearizable)
//   POST /cluster/control/commands  ADMIN: proposes one control command (the
//                                   JSON of control/commands.ts Command) and
//                                   answers the state machine's ApplyResult once
//                                   this node applied it. For operators and
//                                   tests; issue 11 gates it with an admin token.
//   POST /cluster/control/join      ADMIN: a new node asks to join (what
//                                   `ringstore server --join` sends): its layout
//                                   entry {id, addresses: {rpc, http}, zone,
//                                   capacity, role} is recorded (addNode, or
//                                   updateNode when it is there with other
//                                   addresses); the leader then adds it to Raft
//                                   as a learner. Answers the layout's nodes.
//   GET  /cluster/control/backup    ADMIN: the whole control state, secrets
//                                   included, after a ReadIndex (what `ringstore
//                                   control backup` saves).

import type { IncomingMessage, ServerResponse } from 'node:http';
import { CommandError, decodeCommand, encodeCommand, type Command, type LayoutNode } from '../control/commands.js';
import type { DriverStatus } from '../control/driver.js';
import type { ControlPlane } from '../control/plane.js';
import { trackedNodes } from '../layout/history.js';
import { ApiError } from './errors.js';
import { methodNotAllowed, readBody, sendJson, type ParsedUrl, type RequestCtx } from './http.js';

export interface ClusterControlDeps {
  readonly self: string;
  readonly plane: ControlPlane;
  readonly status: () => DriverStatus;
}

/** The control state as JSON, secrets left out (access key secrets, admin token hashes). */
export function publicControlState(plane: ControlPlane): Record<string, unknown> {
  const s = JSON.parse(new TextDecoder().decode(plane.state.snapshot())) as {
    applied: number;
    layout: unknown;
    buckets: unknown[];
    users: unknown[];
    accessKeys: { accessKeyId: string; user: string; createdAt: number }[];
    adminTokens: { tokenId: string; createdAt: number }[];
  };
  return {
    applied: s.applied,
    layout: s.layout,
    buckets: s.buckets,
    users: s.users,
    access_keys: s.accessKeys.map((k) => ({ access_key_id: k.accessKeyId, user: k.user, created_at: k.createdAt })),
    admin_tokens: s.adminTokens.map((t) => ({ token_id: t.tokenId, created_at: t.createdAt })),
  };
}

export function raftStatusJson(s: DriverStatus): Record<string, unknown> {
  return {
    id: s.id,
    role: s.role,
    term: s.term,
    leader: s.leader === '' ? null : s.leader,
    commit: s.commit,
    applied: s.applied,
    last_index: s.lastIndex,
    snapshot_index: s.snapshotIndex,
    voters: s.voters,
    learners: s.learners,
    leader_changes: s.leaderChanges,
    failed: s.failed,
    members: s.members.map((m) => ({
      id: m.id,
      role: m.voter ? 'voter' : 'learner',
      match: m.match,
      next: m.next,
      progress: m.progress,
      recent_active: m.recentActive,
      last_contact_ms_ago: m.lastContactMs,
    })),
  };
}

/** Handles the routes above; returns false for any other path. */
export async function handleControlRoute(deps: ClusterControlDeps, req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<boolean> {
  switch (url.path) {
    case '/cluster/raft':
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      ctx.route = 'cluster_raft';
      sendJson(res, 200, { ok: true, node: deps.self, ...raftStatusJson(deps.status()) });
      return true;
    case '/cluster/control':
      if (req.method !== 'GET' && req.method !== 'HEAD') throw methodNotAllowed('GET, HEAD');
      ctx.route = 'cluster_control';
      if (url.query.get('confirm') === '1' || url.query.get('confirm') === 'true') await deps.plane.confirm();
      sendJson(res, 200, { ok: true, node: deps.self, ...publicControlState(deps.plane) });
      return true;
    case '/cluster/control/commands': {
      if (req.method !== 'POST') throw methodNotAllowed('POST');
      ctx.route = 'cluster_control_commands';
      const raw = await readBody(req, 256 * 1024);
      let cmd: Command;
      try {
        const parsed = JSON.parse(raw.toString('utf8')) as unknown;
        // The state machine's own validation, so that a malformed command is refused here rather than logged forever.
        cmd = decodeCommand(encodeCommand({ id: '', at: 0, cmd: parsed as Command })).cmd;
      } catch (err) {
        if (err instanceof CommandError) throw new ApiError('InvalidArgument', err.message);
        throw new ApiError('MalformedRequest', 'the body must be one control command as JSON, e.g. {"type":"createBucket","name":"b","owner":"alice"}');
      }
      const result = await deps.plane.propose(cmd);
      sendJson(res, 200, { ok: true, node: deps.self, applied: deps.plane.state.applied, result });
      return true;
    }
    case '/cluster/control/join': {
      if (req.method !== 'POST') throw methodNotAllowed('POST');
      ctx.route = 'cluster_control_join';
      const raw = await readBody(req, 64 * 1024);
      let node: LayoutNode;
      try {
        const parsed = JSON.parse(raw.toString('utf8')) as unknown;
        const cmd = decodeCommand(encodeCommand({ id: '', at: 0, cmd: { type: 'addNode', node: parsed as LayoutNode } })).cmd;
        node = (cmd as { node: LayoutNode }).node;
      } catch (err) {
        if (err instanceof CommandError) throw new ApiError('InvalidArgument', err.message);
        throw new ApiError('MalformedRequest', 'the body must be a layout node as JSON: {"id","addresses":{"rpc","http"},"zone","capacity","role"}');
      }
      await deps.plane.confirm();
      // issue 10: a node of the layout that joins again has lost its folder; under its old id it would mint dots
      // the lost folder already minted. A replacement takes a new id.
      if (trackedNodes(deps.plane.state.layoutHistory()).includes(node.id)) {
        throw new ApiError('Conflict', `node ${node.id} is in the data layout already: a node that lost its data folder must come back under a new id (ringstore layout remove ${node.id}, then join and assign the new node; docs/layout.md)`, {}, 409);
      }
      const known = deps.plane.state.layout().nodes.find((n) => n.id === node.id);
      let result: unknown = { ok: true, unchanged: true };
      if (known === undefined || JSON.stringify(known) !== JSON.stringify(node)) {
        result = await deps.plane.propose(known === undefined ? { type: 'addNode', node } : { type: 'updateNode', node });
        if ((result as { ok: boolean }).ok !== true) {
          const r = result as { code: string; message: string };
          throw new ApiError(r.code === 'NodeExists' ? 'Conflict' : 'InvalidArgument', `join of ${node.id} refused: ${r.message}`, {}, 409);
        }
      }
      const st = deps.status();
      sendJson(res, 200, { ok: true, node: deps.self, result, leader: st.leader || null, layout: deps.plane.state.layout() });
      return true;
    }
    case '/cluster/control/backup': {
      if (req.method !== 'GET') throw methodNotAllowed('GET');
      ctx.route = 'cluster_control_backup';
      await deps.plane.confirm();
      const bytes = deps.plane.state.snapshot();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': bytes.byteLength, 'cache-control': 'no-store' });
      res.end(bytes);
      return true;
    }
    default:
      return false;
  }
}

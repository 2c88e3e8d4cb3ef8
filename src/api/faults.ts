// The dev-only fault switch on the native API:
//
//   GET    /_faults           the fault rules (403 unless enabled)
//   POST   /_faults           replace them: {"drop": ["n2"], "delay": ["n3"],
//                             "delayMs": 200, "direction": "both"|"in"|"out"}
//   DELETE /_faults           heal: no rules
//
// Translation only: the rules act in the node's fault injector
// (node/faults.ts), which the node passes in as a FaultSwitch.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeId } from '../version/dvv.js';
import { ApiError } from './errors.js';
import { methodNotAllowed, readBody, sendJson, type ParsedUrl, type RequestCtx, type RouteHandler } from './http.js';

export type FaultDirection = 'both' | 'in' | 'out';

/** What POST /_faults takes (and GET /_faults shows). */
export interface FaultSpec {
  /** Peers whose traffic with this node is lost. */
  readonly drop?: readonly NodeId[];
  /** Peers whose traffic with this node is delayed by delayMs. */
  readonly delay?: readonly NodeId[];
  readonly delayMs?: number;
  readonly direction?: FaultDirection;
}

/** What the endpoint needs of the node's fault injector. */
export interface FaultSwitch {
  readonly self: NodeId;
  /** Replaces the rules. Throws RangeError on a malformed spec. */
  set(spec: FaultSpec): void;
  clear(): void;
  /** The rules in force and what they did, as GET /_faults shows them. */
  describe(): object;
}

/** The fault switch: 403 unless the node was started with faults enabled. */
export function createFaultsApi(faults: FaultSwitch | undefined): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: ParsedUrl, ctx: RequestCtx): Promise<void> => {
    ctx.route = 'faults';
    if (url.path !== '/_faults') throw new ApiError('NotFound', `no such endpoint: ${url.path}`);
    if (faults === undefined) {
      throw new ApiError('Forbidden', 'fault injection is off on this node; start it with --faults (RINGSTORE_FAULTS=1), for tests and demos only', {}, 403);
    }
    switch (req.method) {
      case 'GET':
        return sendJson(res, 200, { ok: true, node: faults.self, ...faults.describe() });
      case 'POST':
      case 'PUT': {
        const raw = await readBody(req, 64 * 1024);
        let spec: FaultSpec;
        try {
          spec = JSON.parse(raw.toString('utf8') || '{}') as FaultSpec;
        } catch {
          throw new ApiError('MalformedRequest', 'the body must be JSON such as {"drop": ["n2"], "direction": "both"}');
        }
        if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new ApiError('MalformedRequest', 'the body must be a JSON object');
        const known = new Set(['drop', 'delay', 'delayMs', 'direction']);
        for (const k of Object.keys(spec)) if (!known.has(k)) throw new ApiError('InvalidArgument', `unknown field ${JSON.stringify(k)} (known: ${[...known].join(', ')})`);
        try {
          faults.set(spec);
        } catch (err) {
          throw new ApiError('InvalidArgument', (err as Error).message);
        }
        return sendJson(res, 200, { ok: true, node: faults.self, ...faults.describe() });
      }
      case 'DELETE':
        faults.clear();
        return sendJson(res, 200, { ok: true, node: faults.self, ...faults.describe() });
      default:
        throw methodNotAllowed('GET, POST, DELETE');
    }
  };
}

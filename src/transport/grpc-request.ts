// One outgoing request of the gRPC transport, from the call to request() to
// its single settlement: answered, failed, or timed out. Whatever path it
// took (the stream, a unary Call, the bulk lane, or the node itself), it is
// settled here, once.

import type { NodeId } from '../version/dvv.js';
import { RESPONSE_TYPE, type Message, type Request, type Response } from './messages.js';
import { TransportError } from './transport.js';
import { answerElision, fromEnvelope, type Envelope__Output } from './codec.js';
import { errorCode, errorMessage } from '../util/errors.js';

export interface Pending {
  readonly id: number;
  readonly to: NodeId;
  readonly req: Request;
  readonly deadlineAt: number;
  readonly unary: boolean;
  readonly resolve: (r: Response) => void;
  readonly reject: (e: TransportError) => void;
  timer: NodeJS.Timeout | undefined;
  /** Handed to the network (written, or dropped/delayed by the fault filter). */
  written: boolean;
  settled: boolean;
  /** Cancels a unary call in flight. */
  cancel: (() => void) | undefined;
}

/** Resolves with the answer, unless it is an error or the wrong type for the request. */
export function settle(p: Pending, msg: Response): void {
  if (p.settled) return;
  if (msg.type === 'error') return fail(p, 'remote', msg.message, msg.code);
  if (msg.type !== RESPONSE_TYPE[p.req.type]) {
    return fail(p, 'remote', `${p.to} answered ${p.req.type} with ${msg.type}`, 'BadResponse');
  }
  p.settled = true;
  clearTimeout(p.timer);
  p.resolve(msg);
}

export function fail(p: Pending, kind: TransportError['kind'], message: string, code?: string): void {
  if (p.settled) return;
  p.settled = true;
  clearTimeout(p.timer);
  p.reject(new TransportError(kind, p.to, message, code));
}

/** Decodes an answer that came off the wire and settles with it. */
export function settleEnvelope(p: Pending, env: Envelope__Output): void {
  let msg: Message;
  try {
    msg = fromEnvelope(env, answerElision(p.req)).msg;
  } catch (err) {
    return fail(p, 'remote', `undecodable response from ${p.to}: ${errorMessage(err)}`, 'BadResponse');
  }
  settle(p, msg as Response);
}

export { errorCode, errorMessage };

// How CLI commands reach a node's admin routes: which node (--node, else the
// first node of ./.data/dev/cluster.json, else the default port) and with
// which admin token (--admin-token, else RINGSTORE_ADMIN_TOKEN, else the
// cluster file's admin_token). Every admin route needs one (issue 11 §3).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Option } from 'commander';
import { DEFAULT_HTTP_PORT } from '../node/config.js';

export const DEV_CLUSTER_FILE = path.join('.data', 'dev', 'cluster.json');

export interface AdminFlags {
  readonly node?: string;
  readonly adminToken?: string;
}

function clusterFile(): { nodes?: { http?: string }[]; admin_token?: string } | undefined {
  try {
    return JSON.parse(readFileSync(DEV_CLUSTER_FILE, 'utf8')) as { nodes?: { http?: string }[]; admin_token?: string };
  } catch {
    return undefined;
  }
}

export function adminNode(flag: string | undefined): string {
  if (flag !== undefined) return flag.includes('://') ? flag : `http://${flag}`;
  const http = clusterFile()?.nodes?.[0]?.http;
  return typeof http === 'string' ? http : `http://127.0.0.1:${DEFAULT_HTTP_PORT}`;
}

export function adminToken(flag: string | undefined): string | undefined {
  return flag ?? process.env['RINGSTORE_ADMIN_TOKEN'] ?? clusterFile()?.admin_token;
}

export const nodeOption = (): Option => new Option('--node <url>', "a node's HTTP API (default: the first node of .data/dev/cluster.json, else http://127.0.0.1:9001)");
export const adminTokenOption = (): Option => new Option('--admin-token <token>', 'admin token (default: env RINGSTORE_ADMIN_TOKEN, else admin_token of .data/dev/cluster.json)');

/** Calls an admin route; on failure prints what went wrong and exits 1. */
export async function admin(flags: AdminFlags, method: string, route: string, body?: unknown): Promise<Record<string, unknown>> {
  const base = adminNode(flags.node);
  const token = adminToken(flags.adminToken);
  if (token === undefined) {
    console.error('ringstore: admin routes need an admin token: give --admin-token, set RINGSTORE_ADMIN_TOKEN, or run where .data/dev/cluster.json is');
    process.exit(1);
  }
  let res: Response;
  try {
    res = await fetch(new URL(route, base), {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    console.error(`ringstore: cannot reach the node at ${base}: ${(err as Error).message} (give --node http://host:port of a node's HTTP API)`);
    process.exit(1);
  }
  const answer = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok) {
    const e = answer['error'];
    const why = typeof e === 'object' && e !== null ? `${String((e as Record<string, unknown>)['code'])}: ${String((e as Record<string, unknown>)['message'])}` : String(answer['message'] ?? e ?? '');
    console.error(`ringstore: ${method} ${route} on ${base}: ${res.status} ${why}`);
    process.exit(1);
  }
  return answer;
}

// `ringstore user`, `ringstore token` and `ringstore admin-token`: users, their
// access keys and API tokens, and admin tokens (issue 11 §2-3), through a
// node's /_auth admin routes. A secret is printed once, when it is made.

import type { Command } from 'commander';
import { admin, adminTokenOption, nodeOption, type AdminFlags } from './admin-client.js';

type Flags = AdminFlags & { json?: boolean };

const when = (v: unknown): string => (v === null || v === undefined ? 'never' : String(v));

export function registerAuthCommands(program: Command): void {
  const user = program.command('user').description('users and their access keys (the same keys sign S3 and native API requests)');
  user
    .command('create <name>')
    .description('create a user with an access key; prints the key and its secret (shown only once)')
    .addOption(nodeOption())
    .addOption(adminTokenOption())
    .option('--json', 'print JSON')
    .action(async (name: string, flags: Flags) => {
      await admin(flags, 'POST', `/_auth/users/${encodeURIComponent(name)}`);
      const k = await admin(flags, 'POST', `/_auth/users/${encodeURIComponent(name)}/keys`);
      if (flags.json === true) console.log(JSON.stringify({ user: name, access_key: k['access_key'], secret_key: k['secret_key'] }));
      else console.log(`user:       ${name}\naccess key: ${String(k['access_key'])}\nsecret key: ${String(k['secret_key'])}\nnext: ringstore token create --user ${name}`);
    });
  user
    .command('list')
    .description('users, with their access key ids and token ids')
    .addOption(nodeOption())
    .addOption(adminTokenOption())
    .option('--json', 'print JSON')
    .action(async (flags: Flags) => {
      const r = await admin(flags, 'GET', '/_auth/users');
      if (flags.json === true) return console.log(JSON.stringify(r['users']));
      for (const u of r['users'] as { user: string; access_keys: string[]; tokens: string[] }[]) console.log(`${u.user}  keys: ${u.access_keys.join(',') || '-'}  tokens: ${u.tokens.join(',') || '-'}`);
    });

  const token = program.command('token').description("users' API tokens for the native API (Authorization: Bearer rsu_...)");
  token
    .command('create')
    .description('create an API token for a user; prints it (shown only once)')
    .requiredOption('--user <name>', 'the user the token acts as')
    .option('--ttl <lifetime>', 'lifetime: 30d, 12h, 90m, or never (default 90d)')
    .option('--name <text>', 'a note to recognise it by')
    .addOption(nodeOption())
    .addOption(adminTokenOption())
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { user: string; ttl?: string; name?: string }) => {
      const r = await admin(flags, 'POST', `/_auth/users/${encodeURIComponent(flags.user)}/tokens`, { ...(flags.ttl !== undefined ? { ttl: flags.ttl } : {}), ...(flags.name !== undefined ? { name: flags.name } : {}) });
      if (flags.json === true) return console.log(JSON.stringify({ token: r['token'], id: r['id'], user: r['user'], expires: r['expires'] }));
      console.log(`token:   ${String(r['token'])}\nid:      ${String(r['id'])}\nuser:    ${String(r['user'])}\nexpires: ${when(r['expires'])}\nnext: curl -H "Authorization: Bearer ${String(r['token'])}" <node>/buckets`);
    });
  token
    .command('list')
    .description('API tokens (ids, users, expiry; never the tokens)')
    .option('--user <name>', 'only this user')
    .addOption(nodeOption())
    .addOption(adminTokenOption())
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { user?: string }) => {
      const r = await admin(flags, 'GET', `/_auth/tokens${flags.user !== undefined ? `?user=${encodeURIComponent(flags.user)}` : ''}`);
      if (flags.json === true) return console.log(JSON.stringify(r['tokens']));
      for (const t of r['tokens'] as Record<string, unknown>[]) console.log(`${String(t['id'])}  ${String(t['user'])}  expires ${when(t['expires'])}  ${String(t['name'] ?? '')}`);
    });
  token
    .command('revoke <id>')
    .description('revoke an API token')
    .addOption(nodeOption())
    .addOption(adminTokenOption())
    .action(async (id: string, flags: Flags) => {
      await admin(flags, 'DELETE', `/_auth/tokens/${encodeURIComponent(id)}`);
      console.log(`revoked ${id}`);
    });

  const at = program.command('admin-token').description('admin tokens for the admin routes (Authorization: Bearer rsa_...)');
  at.command('create')
    .description('create an admin token; prints it (shown only once)')
    .option('--scope <scope>', 'admin (every admin route) or metrics-read (GET /metrics only)', 'admin')
    .option('--ttl <lifetime>', 'lifetime: 30d, 12h, 90m, or never (default 90d)')
    .addOption(nodeOption())
    .addOption(adminTokenOption())
    .option('--json', 'print JSON')
    .action(async (flags: Flags & { scope: string; ttl?: string }) => {
      const r = await admin(flags, 'POST', '/_auth/admin-tokens', { scope: flags.scope, ...(flags.ttl !== undefined ? { ttl: flags.ttl } : {}) });
      if (flags.json === true) return console.log(JSON.stringify({ token: r['token'], id: r['id'], scope: r['scope'], expires: r['expires'] }));
      console.log(`admin token: ${String(r['token'])}\nid:          ${String(r['id'])}\nscope:       ${String(r['scope'])}\nexpires:     ${when(r['expires'])}`);
    });
  at.command('list')
    .description('admin tokens (ids, scopes, expiry; never the tokens)')
    .addOption(nodeOption())
    .addOption(adminTokenOption())
    .option('--json', 'print JSON')
    .action(async (flags: Flags) => {
      const r = await admin(flags, 'GET', '/_auth/admin-tokens');
      if (flags.json === true) return console.log(JSON.stringify(r['tokens']));
      for (const t of r['tokens'] as Record<string, unknown>[]) console.log(`${String(t['id'])}  ${String(t['scope'])}  expires ${when(t['expires'])}`);
    });
  at.command('revoke <id>')
    .description('revoke an admin token')
    .addOption(nodeOption())
    .addOption(adminTokenOption())
    .action(async (id: string, flags: Flags) => {
      await admin(flags, 'DELETE', `/_auth/admin-tokens/${encodeURIComponent(id)}`);
      console.log(`revoked ${id}`);
    });
}

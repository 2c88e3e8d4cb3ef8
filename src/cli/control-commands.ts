// The control plane's commands on the `ringstore` program: `status`, and
// `control backup|restore` (cli/control-backup.ts). Registered from main.ts in
// one call, so that main.ts only names them.

import type { Command, Option } from 'commander';
import { chmodSync, writeFileSync } from 'node:fs';
import { ConfigError, loadConfig, type NodeConfig } from '../node/config.js';
import { forceNewCluster, RecoveryError, restoreBackup } from '../node/control-recovery.js';
import { describeConfState } from '../raft/confchange.js';
import { runStatus } from './status.js';

export interface ControlCommandDeps {
  /** The node to ask, from --node or the local dev cluster. */
  readonly adminNode: (flag: string | undefined) => string;
  readonly nodeOption: () => Option;
}

export function registerControlCommands(program: Command, deps: ControlCommandDeps): void {
  program
    .command('status')
    .description('the cluster at a glance: members, zones, voters and learners, leader and term, layout version, health (exit 3 without a control-plane quorum)')
    .addOption(deps.nodeOption())
    .option('--json', 'print JSON')
    .action(async (flags: { node?: string; json?: boolean }) => {
      process.exitCode = await runStatus({ node: deps.adminNode(flags.node), json: flags.json === true });
    });

  const control = program.command('control').description('the control plane (Raft): backup and restore of its state');
  control
    .command('backup <file>')
    .description('save the whole control state (layout, buckets, users, keys, tokens: SECRETS INCLUDED) to FILE, read linearizably from the cluster; the file is created mode 0600')
    .addOption(deps.nodeOption())
    .option('--json', 'print JSON')
    .action(async (file: string, flags: { node?: string; json?: boolean }) => {
      const base = deps.adminNode(flags.node);
      let bytes: Uint8Array;
      try {
        const res = await fetch(new URL('/cluster/control/backup', base), { signal: AbortSignal.timeout(30_000) });
        if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
        bytes = new Uint8Array(await res.arrayBuffer());
      } catch (err) {
        console.error(`ringstore control backup: cannot read the control state from ${base}: ${(err as Error).message}`);
        process.exit(1);
      }
      writeFileSync(file, bytes, { mode: 0o600 });
      chmodSync(file, 0o600);
      const s = JSON.parse(new TextDecoder().decode(bytes)) as { applied: number; layout: { version: number; nodes: unknown[] }; buckets: unknown[]; users: unknown[]; accessKeys: unknown[] };
      const facts = { file, from: base, bytes: bytes.byteLength, applied: s.applied, layout_version: s.layout.version, nodes: s.layout.nodes.length, buckets: s.buckets.length, users: s.users.length, access_keys: s.accessKeys.length };
      if (flags.json === true) console.log(JSON.stringify(facts));
      else {
        console.log(`saved the control state as of index ${facts.applied} from ${base} to ${file} (${facts.bytes} bytes, mode 0600: it holds secrets)`);
        console.log(`  layout version ${facts.layout_version} (${facts.nodes} nodes), ${facts.buckets} buckets, ${facts.users} users, ${facts.access_keys} access keys`);
        console.log(`restore (disaster only): stop the node, then  ringstore control restore ${file} --config <its config>`);
      }
    });
  control
    .command('restore <file>')
    .description("DISASTER RECOVERY: make FILE (from `control backup`) the control state of this node's Raft folder, as the only voter of a new configuration; the node must be stopped. Then start it, and join the others to it (--join) after deleting their <data>/raft")
    .option('-c, --config <file>', "the node's config file (env RINGSTORE_CONFIG)")
    .option('--id <id>', 'node id (env RINGSTORE_ID)')
    .option('-d, --data <dir>', 'data folder (env RINGSTORE_DATA)')
    .option('--force', 'replace a Raft log the folder already holds (it is lost)')
    .option('--json', 'print JSON')
    .action(async (file: string, flags: { config?: string; id?: string; data?: string; force?: boolean; json?: boolean }) => {
      let config: NodeConfig;
      try {
        config = loadConfig({ config: flags.config, id: flags.id, data: flags.data });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        console.error(`ringstore control restore: ${err.message}`);
        process.exit(2);
      }
      try {
        const r = await restoreBackup(config, file, { force: flags.force === true, now: Date.now() });
        if (flags.json === true) console.log(JSON.stringify({ ...r, node: config.id }));
        else {
          console.log(`restored ${file} into ${r.folder}: ${config.id} is the only voter, state as of index ${r.index} (term ${r.term}); ${r.buckets} buckets, ${r.users} users, ${r.layoutNodes} nodes in the layout`);
          console.log(`next: start the node (ringstore server ...), then on every other member delete <data>/raft and start it with --join ${config.advertiseHttp}`);
        }
      } catch (err) {
        if (!(err instanceof RecoveryError)) throw err;
        console.error(`ringstore control restore: ${err.message}`);
        process.exit(2);
      }
    });
}

// ------------------------------------------------------------- recovery

/** `ringstore server --force-new-cluster`: rewrites the Raft folder before the node starts (node/control-recovery.ts), loudly. */
export async function runForceNewCluster(config: NodeConfig): Promise<void> {
  const bar = '!'.repeat(78);
  console.error(`${bar}
ringstore server --force-new-cluster: UNSAFE DISASTER RECOVERY
This node (${config.id}) becomes the ONLY voter of the control plane, with the
state it has seen committed. Entries it had not seen committed are dropped;
whatever a lost majority committed after them is gone for good. Use it only
when a majority of the voters is lost for good. Afterwards, on every other
member: stop it, delete <data>/raft, and start it with --join ${config.advertiseHttp}.
Do not pass --force-new-cluster again on the next restart.
${bar}`);
  try {
    const r = await forceNewCluster(config, Date.now());
    console.error(
      `ringstore: ${r.folder}: new one-voter configuration (${config.id}) at index ${r.index}, term ${r.term}; ${r.dropped} uncommitted entries dropped; previous configuration ${r.previousConf === null ? '-' : describeConfState(r.previousConf)}; ${r.buckets} buckets, ${r.users} users, ${r.layoutNodes} nodes in the layout`,
    );
  } catch (err) {
    console.error(`ringstore server --force-new-cluster: ${(err as Error).message}`);
    process.exit(2);
  }
}

// The control plane's commands on the `ringstore` program: `status`, and
// `control backup|restore` (cli/control-backup.ts). Registered from main.ts in
// one call, so that main.ts only names them.

import type { Command, Option } from 'commander';
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
}

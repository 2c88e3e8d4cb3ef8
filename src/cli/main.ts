// The `ringstore` command: `server` runs one node, `dev` a local cluster of
// node processes, `bench` the load benchmark, `shell` the file-tree shell.

import { Command, InvalidArgumentError, Option } from 'commander';
import path from 'node:path';
import { ConfigError, loadConfig, parseSize, type RawConfig } from '../node/config.js';
import { admin, adminNode, adminTokenOption, nodeOption, type AdminFlags } from './admin-client.js';
import { registerAuthCommands } from './auth-commands.js';
import { startNode, stopOnSignals } from '../node/node.js';
import { runAddNode, runDev, runRemoveNode } from './dev.js';
import { registerControlCommands, runForceNewCluster } from './control-commands.js'; // raft
import { courseEnv, runCourseMode } from '../node/course-mode.js'; // kvs
import { layoutCommand } from './layout.js'; // issue 10

function int(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

const program = new Command();
program.name('ringstore').description('A Dynamo-style distributed object and key-value store').showHelpAfterError();

interface ServerFlags {
  config?: string;
  id?: string;
  zone?: string;
  weight?: string;
  data?: string;
  http?: string;
  grpc?: string;
  advertiseHttp?: string;
  advertiseGrpc?: string;
  members?: string;
  partitions?: string;
  quorum?: string;
  maxObjectSize?: string;
  logLevel?: string;
  s3?: string;
  filesGrpc?: string;
  accessKey?: string;
  secretKey?: string;
  tlsCert?: string;
  tlsKey?: string;
  membership?: string;
  faults?: boolean;
  s3CacheSize?: string;
  s3Gc?: string;
  exitWithParent?: boolean;
  join?: string; // raft
  forceNewCluster?: boolean; // raft
  storeLog?: string;
}

program
  .command('server')
  .description('run one node of a cluster (settings: flags > RINGSTORE_* environment > --config file > defaults)')
  .option('-c, --config <file>', 'JSON config file (env RINGSTORE_CONFIG)')
  .option('--id <id>', 'node id, stable across restarts (env RINGSTORE_ID; default n1)')
  .option('--zone <zone>', 'failure domain; replicas prefer distinct zones (env RINGSTORE_ZONE; default "default")')
  .option('--weight <w>', 'relative capacity (env RINGSTORE_WEIGHT; default 1)')
  .option('-d, --data <dir>', 'data folder (env RINGSTORE_DATA; default ./.data/<id>)')
  .option('--http <addr>', 'HTTP listen host:port (env RINGSTORE_HTTP; default 0.0.0.0:9001)')
  .option('--grpc <addr>', 'gRPC listen host:port (env RINGSTORE_GRPC; default 0.0.0.0:9101)')
  .option('--s3 <addr>', 'S3 API listen host:port (env RINGSTORE_S3; default 0.0.0.0:9201)')
  .option('--files-grpc <addr>', 'public gRPC file API listen host:port (env RINGSTORE_FILES_GRPC; default 0.0.0.0:9301)')
  .option('--access-key <key>', 'a new cluster\'s first access key id (env RINGSTORE_ACCESS_KEY; default: generated and printed once)')
  .option('--secret-key <secret>', 'its secret key (env RINGSTORE_SECRET_KEY)')
  .option('--tls-cert <file>', 'PEM certificate: the HTTP and S3 ports serve HTTPS (env RINGSTORE_TLS_CERT; with --tls-key)')
  .option('--tls-key <file>', 'PEM private key of --tls-cert (env RINGSTORE_TLS_KEY)')
  .option('--s3-cache-size <size>', 'S3 read cache of verified chunks, e.g. 256MiB; 0 turns it off (env RINGSTORE_S3_CACHE_SIZE; default 64MiB)')
  .option('--s3-gc <json>', 'S3 chunk collection, e.g. \'{"intervalMs":21600000,"graceMs":86400000,"minGapMs":600000}\' (env RINGSTORE_S3_GC)')
  .option('--advertise-http <addr>', 'host:port clients use to reach this node (env RINGSTORE_ADVERTISE_HTTP)')
  .option('--advertise-grpc <addr>', 'host:port other nodes dial (env RINGSTORE_ADVERTISE_GRPC)')
  .option('--members <list>', 'initial members: "n1=host:9101,n2=host:9101" or a JSON array of {id,grpc,http,zone,weight} (env RINGSTORE_MEMBERS)')
  .option('--partitions <n>', 'ring partitions, a power of two, the same on every node (env RINGSTORE_PARTITIONS; default 1024)')
  .option('--quorum <n,r,w>', 'default N,R,W for new buckets (env RINGSTORE_QUORUM; default 3,2,2)')
  .option('--max-object-size <size>', 'largest object of the native API (env RINGSTORE_MAX_OBJECT_SIZE; default 16MiB)')
  .option('--log-level <level>', 'trace|debug|info|warn|error (env RINGSTORE_LOG_LEVEL; default info)')
  .option('--membership <detector>', 'failure detection: swim (gossip) or passive (request outcomes only) (env RINGSTORE_MEMBERSHIP; default swim)')
  .option('--faults', 'DEV ONLY: enable fault injection (POST /_faults drops or delays traffic with chosen peers) (env RINGSTORE_FAULTS=1; default off)')
  .option('--store-log <on|off>', 'a group-committed write log in front of the store: one fdatasync per batch of small writes (env RINGSTORE_STORE_LOG; default off: BENCHMARKS.md, session 6)')
  .option('--join <host:port>', "join an existing cluster through any member's HTTP address (a node with an empty data folder; env RINGSTORE_JOIN)") // raft
  .option('--force-new-cluster', 'UNSAFE disaster recovery: restart this survivor as a one-voter cluster with its state (docs/raft.md)') // raft
  .addOption(new Option('--exit-with-parent', 'stop when the spawning process goes away (used by dev)').hideHelp())
  .action(async (flags: ServerFlags) => {
    // kvs: the course's environment (K, ip_port, VIEW; seed 004) runs course mode: /kvs on ip_port (node/course-mode.ts).
    let course;
    try {
      course = courseEnv(process.env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      console.error(`ringstore server: ${err.message}`);
      process.exit(2);
    }
    if (course !== undefined) return runCourseMode(course, process.env);
    const raw: RawConfig & { config?: string } = {
      config: flags.config,
      id: flags.id,
      zone: flags.zone,
      weight: flags.weight,
      data: flags.data,
      http: flags.http,
      grpc: flags.grpc,
      advertiseHttp: flags.advertiseHttp,
      advertiseGrpc: flags.advertiseGrpc,
      members: flags.members,
      partitions: flags.partitions,
      quorum: flags.quorum,
      maxObjectSize: flags.maxObjectSize,
      logLevel: flags.logLevel,
      s3: flags.s3,
      filesGrpc: flags.filesGrpc,
      accessKey: flags.accessKey,
      secretKey: flags.secretKey,
      tlsCert: flags.tlsCert,
      tlsKey: flags.tlsKey,
      membership: flags.membership,
      faults: flags.faults,
      storeLog: flags.storeLog,
      join: flags.join, // raft
      s3CacheSize: flags.s3CacheSize,
      s3Gc: flags.s3Gc,
    };
    let config;
    try {
      config = loadConfig(raw);
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(`ringstore server: ${err.message}`);
        process.exit(2);
      }
      throw err;
    }
    if (flags.forceNewCluster === true) await runForceNewCluster(config); // raft
    const node = await startNode(config);
    stopOnSignals(node, { exitWithParent: flags.exitWithParent ?? false });
  });

const devCommand = program
  .command('dev')
  .description('start a local cluster of node processes, with its data in one folder')
  .option('-n, --nodes <n>', 'number of nodes (default 3, or what the folder was created with)', int('--nodes', 1))
  .option('-d, --data <dir>', 'cluster folder: data, logs, cluster.json', path.join('.data', 'dev'))
  .option('--base-port <port>', 'first HTTP port (gRPC: +100); 0 picks free ports (default 9001, or the ports the folder used last)', int('--base-port', 0))
  .option('--log-level <level>', 'node log level', 'info')
  .option('--faults', 'DEV ONLY: fault injection on every node (POST /_faults, with the admin token)')
  .option('--store-log <on|off>', "every node's write log in front of its store (default off; see `ringstore server --help`)")
  .action(runDev);
// issue 10: change the node set of a running `ringstore dev` (through its DIR/dev.sock).
devCommand
  .command('add-node')
  .description('start a new node in the running dev cluster, assign it and move its share of the data to it; prints its id and endpoints')
  .option('-d, --data <dir>', 'the folder `ringstore dev` runs on (default .data/dev)')
  .option('--zone <zone>', 'its failure domain (default "local", the founding nodes\' zone)')
  .option('--capacity <size>', 'space it offers, e.g. 1TiB or 500GB (default 1TiB, what each founding node has)')
  .option('--no-wait', 'return once the change is applied, without waiting for the data to move')
  .option('--json', 'print each progress step and the answer as JSON lines')
  // --data after the subcommand is taken by `dev` itself (commander's default), so either place counts.
  .action(async (flags: { data?: string; zone?: string; capacity?: string; wait: boolean; json?: boolean }) => runAddNode({ ...flags, data: flags.data ?? (devCommand.opts() as { data: string }).data }));
devCommand
  .command('remove-node <id>')
  .description('decommission a node of the running dev cluster: its data moves to the new owners, then it stops (a node that is not running is taken as dead for good)')
  .option('-d, --data <dir>', 'the folder `ringstore dev` runs on (default .data/dev)')
  .option('--json', 'print each progress step and the answer as JSON lines')
  .action(async (id: string, flags: { data?: string; json?: boolean }) => runRemoveNode(id, { ...flags, data: flags.data ?? (devCommand.opts() as { data: string }).data }));

program
  .command('bench')
  .description('load benchmark against a fresh dev cluster (or --cluster FILE): 4 KiB puts then gets through the native API and the S3 port, then 64 MiB S3 objects')
  .option('-n, --nodes <n>', 'nodes of the dev cluster it starts', int('--nodes', 1), 3)
  .option('--seconds <s>', 'duration of each small-object phase', int('--seconds', 1), 8)
  .option('--value-size <bytes>', 'small value size', int('--value-size', 1), 4096)
  .option('--concurrency <list>', 'comma-separated concurrencies of the small-object phases', '16,64')
  .option('--phases <list>', 'comma-separated groups: native, s3-small, s3-large, search (the per-user index: 100,000 files over 5 users)', 'native,s3-small,s3-large')
  .option('--search-files <n>', 'files written before the search phase', int('--search-files', 1), 100_000)
  .option('--large-size <list>', 'comma-separated object sizes (bytes) of the s3-large phases', String(64 * 1024 * 1024))
  .option('--large-concurrency <list>', 'comma-separated concurrencies of the s3-large phases (each size at each)', '4')
  .option('--large-seconds <s>', 'duration of each s3-large phase', int('--large-seconds', 1), 10)
  .option('--large-put-only', 'skip the s3-large get phase (to profile uploads)')
  .option('--cluster <file>', "use a running cluster's cluster.json instead of starting one")
  // issue 10 (devlayout): the layout-change benchmark instead of the load phases (src/bench/layout-bench.ts).
  .option('--layout', 'instead: load data into 3 nodes, add a node, time the move (MB/s) and foreground p99 before and during it')
  .option('--layout-bytes <size>', 'with --layout: data loaded before the move, e.g. 256MiB', '1GiB')
  .option('--layout-value-size <size>', 'with --layout: size of each loaded value', '256KiB')
  .option('--layout-keep', 'with --layout: keep the cluster folder (node logs)')
  .option('--s3rver', 'also run the S3 phases against s3rver (npm devDependency: one copy, no fsync) and print ringstore/s3rver ratios')
  .option('--store-log <on|off>', "the dev cluster's nodes with or without the write log in front of the store (default: the nodes' default, off)")
  .action(
    async (flags: {
      layout?: boolean;
      layoutBytes: string;
      layoutValueSize: string;
      layoutKeep?: boolean;
      nodes: number;
      seconds: number;
      valueSize: number;
      concurrency: string;
      phases: string;
      largeSize: string;
      largeConcurrency: string;
      s3rver?: boolean;
      largeSeconds: number;
      largePutOnly?: boolean;
      searchFiles: number;
      cluster?: string;
      storeLog?: string;
    }) => {
      if (flags.layout === true) {
        const { layoutBench } = await import('../bench/layout-bench.js');
        await layoutBench({ bytes: parseSize(flags.layoutBytes, '--layout-bytes'), valueBytes: parseSize(flags.layoutValueSize, '--layout-value-size'), keep: flags.layoutKeep === true });
        return;
      }
      const { bench, PHASE_GROUPS } = await import('../bench/bench.js');
      const concurrencies = flags.concurrency.split(',').map((c) => int('--concurrency', 1)(c.trim()));
      const largeSizes = flags.largeSize.split(',').map((c) => int('--large-size', 1)(c.trim()));
      const largeConcurrencies = flags.largeConcurrency.split(',').map((c) => int('--large-concurrency', 1)(c.trim()));
      const phases = flags.phases.split(',').map((p) => p.trim());
      for (const p of phases) {
        if (!(PHASE_GROUPS as readonly string[]).includes(p)) throw new InvalidArgumentError(`--phases: unknown group ${p} (known: ${PHASE_GROUPS.join(', ')})`);
      }
      await bench({
        nodes: flags.nodes,
        seconds: flags.seconds,
        valueBytes: flags.valueSize,
        concurrencies,
        phases: phases as (typeof PHASE_GROUPS)[number][],
        largeBytes: largeSizes,
        largeConcurrency: largeConcurrencies,
        s3rver: flags.s3rver ?? false,
        largeSeconds: flags.largeSeconds,
        largePutOnly: flags.largePutOnly ?? false,
        searchFiles: flags.searchFiles,
        ...(flags.cluster !== undefined ? { clusterFile: flags.cluster } : {}),
        ...(flags.storeLog !== undefined ? { storeLog: flags.storeLog } : {}),
      });
    },
  );

program
  .command('shell')
  .description('the cluster as a file tree (/bucket/dir/file): help, ls, cd, mkdir, upload, download, info, find... (see README)')
  .option('--cluster <file>', 'cluster.json of the cluster to use', '.data/dev/cluster.json')
  .option('--endpoint <url>', "a node's HTTP API instead of a cluster file; credentials from RINGSTORE_ACCESS_KEY / RINGSTORE_SECRET_KEY")
  .option('--s3 <url>', 'with --endpoint: the S3 URL (default: same host, HTTP port + 200; env RINGSTORE_S3_ENDPOINT)')
  .option('-c, --command <commands>', 'run these commands (separated by ;) without a prompt, stopping at the first error')
  .action(async (flags: { cluster: string; endpoint?: string; s3?: string; command?: string }) => {
    const { runShell } = await import('./shell/shell.js');
    process.exitCode = await runShell(flags);
  });

// ------------------------------------------------------------- S3 admin

const s3Key = program.command('s3-key').description('S3 access keys (each bucket belongs to the owner of the key that created it); needs an admin token');
s3Key
  .command('create')
  .description('create an access key for an owner; prints the access key and its secret (shown only once)')
  .requiredOption('--owner <name>', 'the user the key belongs to')
  .addOption(nodeOption())
  .addOption(adminTokenOption())
  .option('--json', 'print JSON')
  .action(async (flags: AdminFlags & { owner: string; json?: boolean }) => {
    const r = await admin(flags, 'POST', `/_s3/keys?owner=${encodeURIComponent(flags.owner)}`);
    if (flags.json === true) console.log(JSON.stringify({ access_key: r['access_key'], secret_key: r['secret_key'], owner: r['owner'] }));
    else console.log(`access key: ${String(r['access_key'])}\nsecret key: ${String(r['secret_key'])}\nowner:      ${String(r['owner'])}`);
  });
s3Key
  .command('list')
  .description('list the access keys (without secrets)')
  .addOption(nodeOption())
  .addOption(adminTokenOption())
  .action(async (flags: AdminFlags) => {
    const r = await admin(flags, 'GET', '/_s3/keys');
    for (const k of r['keys'] as { access_key: string; owner: string; created: string }[]) console.log(`${k.access_key}  ${k.owner}  ${k.created}`);
  });
s3Key
  .command('delete <accessKey>')
  .description('delete an access key')
  .addOption(nodeOption())
  .addOption(adminTokenOption())
  .action(async (accessKey: string, flags: AdminFlags) => {
    await admin(flags, 'DELETE', `/_s3/keys/${encodeURIComponent(accessKey)}`);
    console.log(`deleted ${accessKey}`);
  });

program
  .command('s3-gc')
  .description('run a collection of unreferenced S3 chunks now and print its report (see docs/s3.md)')
  .addOption(nodeOption())
  .addOption(adminTokenOption())
  .action(async (flags: AdminFlags) => {
    console.log(JSON.stringify(await admin(flags, 'POST', '/_s3/gc'), null, 2));
  });

registerAuthCommands(program);
registerControlCommands(program, { adminNode, nodeOption }); // raft: status, control backup|restore

program.addCommand(layoutCommand()); // issue 10

await program.parseAsync(process.argv);

// `ringstore shell`: the cluster as a file tree, interactively (readline:
// tab completion of commands and remote paths, history across sessions,
// one-line errors) or for scripts (`-c "mkdir /b/docs; upload ./a.pdf /b/docs"`).

import { existsSync, appendFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import cliProgress from 'cli-progress';
import { credentialsFromEnv } from '../../s3/credentials.js';
import { ClusterError, ShellClient, type ShellEndpoints } from './client.js';
import { COMMANDS, findCommand, runCommand, ShellError, type Progress, type ShellContext } from './commands.js';
import { dirPrefix, escapeWord, resolvePath, splitArgs, splitCommands, SyntaxError as ArgSyntaxError } from './paths.js';

export interface ShellOptions {
  /** A cluster.json (default .data/dev/cluster.json). */
  readonly cluster?: string;
  /** A node's native API URL instead of a cluster file; credentials from the environment. */
  readonly endpoint?: string;
  /** The S3 URL with --endpoint (default: the same host, the HTTP port + 200). */
  readonly s3?: string;
  /** Commands to run without a prompt. */
  readonly command?: string;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export const DEFAULT_CLUSTER_FILE = path.join('.data', 'dev', 'cluster.json');
const HISTORY_LINES = 1000;

interface ClusterFile {
  nodes: { id: string; http: string; s3: string; running?: boolean }[];
  access_key: string;
  secret_key: string;
  admin_token?: string;
}

/** How to reach the cluster: a cluster.json, or an endpoint and credentials from the environment. */
export function endpointsFrom(opts: ShellOptions): ShellEndpoints {
  const env = opts.env ?? process.env;
  if (opts.endpoint !== undefined) {
    const http = opts.endpoint.includes('://') ? opts.endpoint : `http://${opts.endpoint}`;
    let s3 = opts.s3 ?? env['RINGSTORE_S3_ENDPOINT'];
    if (s3 === undefined) {
      const u = new URL(http);
      u.port = String(Number(u.port || 80) + 200);
      s3 = u.origin;
    }
    const creds = credentialsFromEnv(env);
    if (creds === undefined) throw new ShellError('with --endpoint, give the credentials in RINGSTORE_ACCESS_KEY and RINGSTORE_SECRET_KEY (there is no default key)');
    const adminToken = env['RINGSTORE_ADMIN_TOKEN'];
    return { http: new URL(http).origin, s3: s3.includes('://') ? s3 : `http://${s3}`, accessKey: creds.accessKey, secretKey: creds.secretKey, ...(adminToken !== undefined && adminToken !== '' ? { adminToken } : {}) };
  }
  const file = opts.cluster ?? DEFAULT_CLUSTER_FILE;
  if (!existsSync(file)) throw new ShellError(`no cluster file at ${file}: start a cluster with \`ringstore dev\`, or give --cluster FILE or --endpoint URL`);
  let c: ClusterFile;
  try {
    c = JSON.parse(readFileSync(file, 'utf8')) as ClusterFile;
  } catch (err) {
    throw new ShellError(`${file} is not a cluster file: ${(err as Error).message}`);
  }
  const first = c.nodes.find((n) => n.running !== false) ?? c.nodes[0];
  if (first === undefined) throw new ShellError(`${file} lists no nodes`);
  return {
    http: first.http,
    s3: first.s3,
    accessKey: c.access_key,
    secretKey: c.secret_key,
    nodes: c.nodes.map((n) => ({ id: n.id, http: n.http })),
    ...(c.admin_token !== undefined ? { adminToken: c.admin_token } : {}),
  };
}

/** The history file: RINGSTORE_SHELL_HISTORY, else ~/.ringstore_shell_history. */
function historyFile(env: Readonly<Record<string, string | undefined>>): string {
  return env['RINGSTORE_SHELL_HISTORY'] ?? path.join(os.homedir(), '.ringstore_shell_history');
}

function loadHistory(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').slice(-HISTORY_LINES).reverse();
  } catch {
    return [];
  }
}

function saveHistoryLine(file: string, line: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    appendFileSync(file, line.replace(/\n/g, ' ') + '\n');
    // Keep the file bounded: rewrite it when it is twice the lines we load.
    const lines = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
    if (lines.length > 2 * HISTORY_LINES) writeFileSync(file, lines.slice(-HISTORY_LINES).join('\n') + '\n');
  } catch {
    // History is a convenience: a read-only home must not break the shell.
  }
}

function errorLine(err: unknown): string {
  if (err instanceof ShellError || err instanceof ClusterError || err instanceof ArgSyntaxError) return `error: ${err.message}`;
  return `error: ${err instanceof Error ? err.message : String(err)}`;
}

function makeProgress(label: string, total: number, tty: boolean): Progress {
  if (!tty) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: `${label} |{bar}| {percentage}% | {value_h} / {total_h} | {speed}`, hideCursor: true, barsize: 30, stream: process.stdout, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  const fmt = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;
  bar.start(total, 0, { value_h: fmt(0), total_h: fmt(total), speed: '' });
  return {
    update: (n) => {
      const s = (Date.now() - started) / 1000;
      bar.update(n, { value_h: fmt(n), total_h: fmt(total), speed: s > 0 ? `${fmt(n / s)}/s` : '' });
    },
    stop: () => bar.stop(),
  };
}

/** Completes the last word of `line`: a command, a remote path or a local path. */
export async function complete(line: string, ctx: ShellContext, listDir: (dirPath: string) => Promise<string[]>): Promise<[string[], string]> {
  const m = /(?:^|[^\\])\s((?:[^\s\\]|\\.)*)$/.exec(line) ?? /^((?:[^\s\\]|\\.)*)$/.exec(line);
  const word = m?.[1] ?? '';
  const before = line.slice(0, line.length - word.length);
  let words = before.trim() === '' ? [] : splitArgs(before);
  if (words[0] === 'show') words = words.slice(1);
  if (words.length === 0) {
    const names = COMMANDS.flatMap((c) => [c.name, ...(c.aliases ?? [])]).filter((n) => n.startsWith(word) && n !== '?');
    return [names.map((n) => `${n} `), word];
  }
  const cmd = findCommand(words[0]!);
  if (cmd === undefined) return [[], word];
  const argIndex = words.length - 1;
  const raw = word.replace(/\\(.)/g, '$1');
  const slash = raw.lastIndexOf('/');
  const dirPart = slash < 0 ? '' : raw.slice(0, slash + 1);
  const partial = raw.slice(slash + 1);
  if (cmd.localArgs?.includes(argIndex) === true) {
    try {
      const dir = path.resolve(dirPart === '' ? '.' : dirPart);
      const names = readdirSync(dir)
        .filter((n) => n.startsWith(partial))
        .map((n) => (statSync(path.join(dir, n)).isDirectory() ? `${n}/` : n));
      return [names.map((n) => escapeWord(dirPart + n)), word];
    } catch {
      return [[], word];
    }
  }
  if (cmd.remoteArgs === 'all' || cmd.remoteArgs?.includes(argIndex) === true) {
    try {
      const names = (await listDir(resolvePath(ctx.cwd, dirPart === '' ? '.' : dirPart).path)).filter((n) => n.startsWith(partial));
      return [names.map((n) => escapeWord(dirPart + n)), word];
    } catch {
      return [[], word];
    }
  }
  return [[], word];
}

/** Runs the shell; resolves with the process exit code. */
export async function runShell(opts: ShellOptions): Promise<number> {
  const env = opts.env ?? process.env;
  let client: ShellClient;
  try {
    client = new ShellClient(endpointsFrom(opts));
  } catch (err) {
    console.error(errorLine(err));
    return 2;
  }
  const tty = process.stdout.isTTY === true;
  const cache = new Map<string, { names: string[]; atMs: number }>();
  const ctx: ShellContext = {
    client,
    cwd: '/',
    quit: false,
    print: (line) => console.log(line),
    progress: (label, total) => makeProgress(label, total, tty),
    invalidate: () => cache.clear(),
  };
  /** Names in a remote directory (dirs end in '/'), cached briefly for completion. */
  const listDir = async (dirPath: string): Promise<string[]> => {
    const hit = cache.get(dirPath);
    if (hit !== undefined && Date.now() - hit.atMs < 5000) return hit.names;
    const p = resolvePath('/', dirPath);
    let names: string[];
    if (p.bucket === undefined) names = (await client.buckets()).map((b) => `${b.name}/`);
    else {
      const prefix = dirPrefix(p);
      const l = await client.list(p.bucket, prefix, { delimiter: true, max: 1000 });
      names = [...l.dirs.map((d) => d.slice(prefix.length)), ...l.files.map((f) => f.key.slice(prefix.length)).filter((n) => n !== '')];
    }
    cache.set(dirPath, { names, atMs: Date.now() });
    return names;
  };
  const exec = async (line: string): Promise<boolean> => {
    try {
      await runCommand(splitArgs(line), ctx);
      return true;
    } catch (err) {
      console.log(errorLine(err));
      return false;
    }
  };

  try {
    if (opts.command !== undefined) {
      for (const line of splitCommands(opts.command)) {
        if (!(await exec(line))) return 1;
        if (ctx.quit) break;
      }
      return 0;
    }

    const histFile = historyFile(env);
    const interactive = process.stdin.isTTY === true;
    const rl = readline.createInterface({
      input: process.stdin,
      output: process.stdout,
      terminal: interactive,
      history: loadHistory(histFile),
      historySize: HISTORY_LINES,
      removeHistoryDuplicates: true,
      completer: (line: string, callback: (err: Error | null, result: [string[], string]) => void) => {
        complete(line, ctx, listDir).then(
          (r) => callback(null, r),
          () => callback(null, [[], line]),
        );
      },
    });
    const prompt = (): void => {
      if (!interactive) return;
      rl.setPrompt(`ringstore:${ctx.cwd}> `);
      rl.prompt();
    };
    rl.on('SIGINT', () => {
      rl.write(null, { ctrl: true, name: 'u' });
      console.log('\n(quit, exit or Ctrl-D leaves the shell)');
      prompt();
    });
    if (interactive) {
      const e = client.endpoints;
      console.log(`ringstore shell: ${e.http} (S3 ${e.s3}), access key ${e.accessKey}. help lists the commands.`);
    }
    prompt();
    let failed = false;
    for await (const line of rl) {
      if (line.trim() !== '') {
        if (interactive) saveHistoryLine(histFile, line);
        if (!(await exec(line))) failed = true;
        if (ctx.quit) break;
      }
      prompt();
    }
    rl.close();
    if (interactive && !ctx.quit) console.log('');
    return interactive || !failed ? 0 : 1;
  } finally {
    client.close();
  }
}

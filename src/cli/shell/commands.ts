// The shell's commands: seed 002's file-system commands with their usage
// text and meaning, seed 000's key operations (put, get), cat and find.
// Each command works through the ShellClient alone.

import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { ClusterError, ShellClient } from './client.js';
import { baseName, dirPrefix, humanSize, joinPath, resolvePath, type RemotePath } from './paths.js';

/** A refusal the user can act on: printed as one line, never a stack. */
export class ShellError extends Error {
  override name = 'ShellError';
}

export interface Progress {
  update(done: number): void;
  stop(): void;
}

export interface ShellContext {
  readonly client: ShellClient;
  cwd: string;
  print(line: string): void;
  progress(label: string, total: number): Progress;
  /** Asked when the command changes what completion may have cached. */
  invalidate(): void;
  /** Set by quit. */
  quit: boolean;
}

export interface Command {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly usage: string;
  readonly summary: string;
  /** Which arguments are remote paths (for completion): indexes, or 'all'. */
  readonly remoteArgs?: readonly number[] | 'all';
  /** Which arguments are local paths. */
  readonly localArgs?: readonly number[];
  run(args: string[], ctx: ShellContext): Promise<void>;
}

const MARKER_TYPE = 'application/x-directory';
/** Deletes and copies of many keys run this many at a time. */
const PARALLEL = 8;

function need(args: string[], min: number, usage: string, max = Infinity): void {
  if (args.length < min || args.length > max) throw new ShellError(`usage: ${usage}`);
}

function flags(args: string[], known: readonly string[]): { set: Set<string>; rest: string[] } {
  const set = new Set<string>();
  const rest: string[] = [];
  for (const a of args) {
    if (a.startsWith('-') && a.length > 1 && rest.length === 0) {
      if (!known.includes(a)) throw new ShellError(`unknown option ${a} (known: ${known.join(', ') || 'none'})`);
      set.add(a);
    } else rest.push(a);
  }
  return { set, rest };
}

async function parallel<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
}

/** What a path names: the root, a bucket, a file, a directory, or nothing. */
export type Kind = 'root' | 'bucket' | 'file' | 'dir' | 'none';

export async function kindOf(client: ShellClient, p: RemotePath): Promise<Kind> {
  if (p.bucket === undefined) return 'root';
  if (p.key === '') return (await client.bucketExists(p.bucket)) ? 'bucket' : 'none';
  if ((await client.head(p.bucket, p.key)) !== undefined) return 'file';
  if (await client.hasPrefix(p.bucket, `${p.key}/`)) return 'dir';
  return 'none';
}

const isDirKind = (k: Kind): boolean => k === 'bucket' || k === 'dir';

/**
 * Where `name` lands given a target: inside the target when it is an
 * existing directory (or bucket), else the target itself when its parent
 * directory exists (a new name).
 */
async function placeInto(client: ShellClient, target: RemotePath, name: string): Promise<RemotePath> {
  const kind = await kindOf(client, target);
  if (isDirKind(kind)) return joinPath(target, name);
  if (kind === 'root') throw new ShellError('files live inside a bucket: give /bucket/... as the target');
  const parent = resolvePath(target.path, '..');
  if (target.key !== '' && isDirKind(await kindOf(client, parent))) return target;
  throw new ShellError(`${target.path}: no such directory`);
}

function fileOf(p: RemotePath, what: string): { bucket: string; key: string } {
  if (p.bucket === undefined || p.key === '') throw new ShellError(`${p.path} is not a file (${what} needs /bucket/path/file)`);
  return { bucket: p.bucket, key: p.key };
}

/** Every key under a prefix (the directory's marker included). */
async function keysUnder(client: ShellClient, bucket: string, prefix: string): Promise<{ key: string; size: number }[]> {
  return (await client.list(bucket, prefix)).files;
}

async function deletePath(ctx: ShellContext, p: RemotePath, force: boolean): Promise<string> {
  const { client } = ctx;
  const kind = await kindOf(client, p);
  switch (kind) {
    case 'root':
      throw new ShellError('cannot delete / (use init -force to delete everything)');
    case 'none':
      throw new ShellError(`${p.path}: no such file or directory`);
    case 'file':
      await client.remove(p.bucket!, p.key);
      return `deleted ${p.path}`;
    case 'bucket':
    case 'dir': {
      const prefix = dirPrefix(p);
      const keys = await keysUnder(client, p.bucket!, prefix);
      const content = keys.filter((k) => k.key !== prefix);
      const files = plural(content.filter((k) => !k.key.endsWith('/')).length, 'file');
      if (content.length > 0 && !force) throw new ShellError(`${p.path} is not empty (${files}); use delete -force to delete it with its contents`);
      await parallel(keys, (k) => client.remove(p.bucket!, k.key));
      if (kind === 'bucket') await client.deleteBucket(p.bucket!);
      return `deleted ${p.path}/ (${files})`;
    }
  }
}

async function copyFile(client: ShellClient, from: { bucket: string; key: string }, to: RemotePath): Promise<void> {
  const dst = fileOf(to, 'copy');
  if (from.bucket === dst.bucket && from.key === dst.key) throw new ShellError(`${to.path}: source and target are the same file`);
  await client.copy(from.bucket, from.key, dst.bucket, dst.key);
}

/** Local side of download: into an existing directory, or as a new file name in an existing one. */
function localTarget(dir: string, name: string): string {
  const abs = path.resolve(dir);
  if (existsSync(abs) && statSync(abs).isDirectory()) return path.join(abs, name);
  if (existsSync(path.dirname(abs)) && statSync(path.dirname(abs)).isDirectory()) return abs;
  throw new ShellError(`${dir}: no such local directory`);
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function rate(bytes: number, ms: number): string {
  return `${humanSize(bytes)} in ${(ms / 1000).toFixed(1)} s${ms > 0 ? `, ${humanSize(Math.round((bytes * 1000) / ms))}/s` : ''}`;
}

function clockText(vv: unknown): string {
  if (vv === null || vv === undefined) return '(holds nothing)';
  const entries = Object.entries(vv as Record<string, number>).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([n, c]) => `${n}:${c}`).join(', ')}}`;
}

// ---------------------------------------------------------------- the tree

interface TreeNode {
  readonly dirs: Map<string, TreeNode>;
  readonly files: Map<string, number>;
}

const newNode = (): TreeNode => ({ dirs: new Map(), files: new Map() });

/** The whole file system as a tree (seed 002's `show`), at most `max` keys per bucket. */
export async function renderTree(client: ShellClient, max = 2000): Promise<string[]> {
  const lines = ['/'];
  const buckets = await client.buckets();
  const draw = (node: TreeNode, indent: string): void => {
    const entries: [string, TreeNode | number][] = [...[...node.dirs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)), ...[...node.files.entries()].sort(([a], [b]) => (a < b ? -1 : 1))];
    entries.forEach(([name, v], i) => {
      const last = i === entries.length - 1;
      lines.push(`${indent}${last ? '└── ' : '├── '}${typeof v === 'number' ? `${name} (${humanSize(v)})` : `${name}/`}`);
      if (typeof v !== 'number') draw(v, indent + (last ? '    ' : '│   '));
    });
  };
  const root = newNode();
  const more: string[] = [];
  for (const b of buckets) {
    const node = newNode();
    root.dirs.set(b.name, node);
    const listing = await client.list(b.name, '', { max });
    if (listing.truncated) more.push(`(only the first ${max} keys of ${b.name} are shown)`);
    for (const f of listing.files) {
      const parts = f.key.split('/');
      let cur = node;
      for (let i = 0; i < parts.length - 1; i++) {
        const seg = parts[i]!;
        if (!cur.dirs.has(seg)) cur.dirs.set(seg, newNode());
        cur = cur.dirs.get(seg)!;
      }
      const leaf = parts[parts.length - 1]!;
      if (leaf !== '') cur.files.set(leaf, f.size);
    }
  }
  draw(root, '');
  return [...lines, ...more];
}

// ---------------------------------------------------------------- info

async function fileInfo(ctx: ShellContext, p: RemotePath): Promise<void> {
  const { client, print } = ctx;
  const { bucket, key } = fileOf(p, 'info');
  const head = await client.head(bucket, key);
  if (head === undefined) throw new ShellError(`${p.path}: no such file`);
  const bucketInfo = await client.bucketInfo(bucket);
  let read: Record<string, unknown>;
  try {
    // Every replica (r = n) shows every clock; with one down, a quorum read.
    read = await client.readJson(bucket, key, (bucketInfo['quorum'] as { n: number }).n);
  } catch (err) {
    if ((err as ClusterError).code !== 'QuorumNotReached' && (err as ClusterError).code !== 'InvalidQuorum') throw err;
    read = await client.readJson(bucket, key);
  }
  print(`${p.path}: file, ${head.size} bytes (${humanSize(head.size)}), ${head.contentType}, modified ${head.modified}, etag ${head.etag}`);
  print(`owner: ${String(bucketInfo['owner'])}`);
  const pref = read['preference_list'] as string[];
  print(`partition ${String(read['partition'])}; preference list ${pref.join(', ')}; coordinator ${String(read['coordinator'])}; replicas read ${(read['replicas_read'] as string[]).join(', ')}`);
  const clocks = read['vector_clocks'] as Record<string, unknown>;
  const siblings = read['siblings'] as { dot: { node: string; counter: number }; clock: unknown; size: number; last_modified: string; headers?: Record<string, string> }[];
  const tombstones = read['tombstones'] as { dot: { node: string; counter: number }; clock: unknown }[];
  const nodes = await client.nodes();
  const stored = await Promise.all(
    nodes.map(async (n) => {
      try {
        const r = await client.nodeKeys(n.http, bucket, key);
        return { id: n.id, keys: (r['keys'] as { key: string; dots: string[]; clock: unknown }[]).filter((k) => k.key === key), hints: (r['hints'] as { key: string; for: string; dots: string[] }[]).filter((h) => h.key === key), err: undefined };
      } catch (err) {
        return { id: n.id, keys: [], hints: [], err: (err as Error).message };
      }
    }),
  );
  print(`replicas (${pref.length}):`);
  for (const id of pref) {
    const s = stored.find((x) => x.id === id);
    const mine = s?.keys[0];
    const storedText = s?.err !== undefined ? `unreachable (${s.err})` : mine === undefined ? 'stores nothing' : `stores ${mine.dots.join(' ')}, clock ${clockText(mine.clock)}`;
    print(`  ${id}: ${id in clocks ? `read clock ${clockText(clocks[id])}; ` : ''}${storedText}`);
  }
  for (const s of stored) if (!pref.includes(s.id) && s.keys[0] !== undefined) print(`  ${s.id} (not an owner): stores ${s.keys[0].dots.join(' ')}, clock ${clockText(s.keys[0].clock)}`);
  print(`siblings (${siblings.length}):`);
  for (const s of siblings) print(`  ${s.dot.node}:${s.dot.counter} clock ${clockText(s.clock)}, ${s.headers?.['x-rs-size'] ?? s.size} bytes, ${s.last_modified}`);
  for (const t of tombstones) print(`  ${t.dot.node}:${t.dot.counter} (delete) clock ${clockText(t.clock)}`);
  const hints = stored.flatMap((s) => s.hints.map((h) => `${s.id} holds a hint for ${h.for}: ${h.dots.join(' ')}`));
  print(hints.length === 0 ? 'hints: none pending' : `hints (${hints.length} pending):`);
  for (const h of hints) print(`  ${h}`);
}

async function dirInfo(ctx: ShellContext, p: RemotePath, kind: Kind): Promise<void> {
  const { client, print } = ctx;
  if (kind === 'root') {
    const nodes = await client.nodes();
    const health = await Promise.all(nodes.map((n) => client.health(n.http).then((h) => ({ id: n.id, h }), (err: Error) => ({ id: n.id, h: undefined, err }))));
    const buckets = await client.buckets();
    print(`/: ${buckets.length} buckets on ${nodes.length} nodes`);
    for (const x of health) print(`  ${x.id}: ${x.h === undefined ? 'unreachable' : `up, believes down: ${(x.h['down'] as string[] | undefined)?.join(', ') || 'none'}; hints pending ${String(x.h['hints_pending'] ?? 0)}`}`);
    return;
  }
  const prefix = dirPrefix(p);
  const listing = await client.list(p.bucket!, prefix, { max: 100_000 });
  const files = listing.files.filter((f) => !f.key.endsWith('/'));
  const dirs = new Set(listing.files.map((f) => f.key.slice(prefix.length)).filter((k) => k.includes('/')).map((k) => k.slice(0, k.indexOf('/'))));
  const bytes = files.reduce((a, f) => a + f.size, 0);
  if (kind === 'bucket') {
    const b = await client.bucketInfo(p.bucket!);
    const q = b['quorum'] as { n: number; r: number; w: number };
    print(`${p.path}: bucket, owner ${String(b['owner'])}, created ${String(b['created'])}, n=${q.n} r=${q.r} w=${q.w}`);
  } else print(`${p.path}: directory`);
  print(`  ${plural(files.length, 'file')}${listing.truncated ? ' (or more)' : ''}, ${humanSize(bytes)}; ${plural(dirs.size, 'subdirectory').replace(/ys$/, 'ies')}`);
}

// ---------------------------------------------------------------- commands

export const COMMANDS: readonly Command[] = [
  {
    name: 'help',
    aliases: ['?'],
    usage: 'help [command]',
    summary: 'list the commands; help <command> shows how to use one',
    async run(args, ctx) {
      if (args.length === 0) {
        ctx.print('Commands (help <command> for one):');
        for (const c of COMMANDS) ctx.print(`  ${[c.name, ...(c.aliases ?? [])].join(' / ').padEnd(24)} ${c.summary}`);
        return;
      }
      const c = findCommand(args[0]!);
      if (c === undefined) throw new ShellError(`no such command: ${args[0]} (help lists them)`);
      ctx.print(`usage: ${c.usage}`);
      ctx.print(`  ${c.summary}`);
      if (c.aliases !== undefined) ctx.print(`  also: ${c.aliases.join(', ')}`);
    },
  },
  {
    name: 'init',
    usage: 'init [-force]',
    summary: 'initialise the file system; -force deletes everything (your buckets and files) and starts empty',
    async run(args, ctx) {
      const { set, rest } = flags(args, ['-force']);
      need(rest, 0, 'init [-force]', 0);
      const buckets = await ctx.client.buckets();
      if (!set.has('-force')) {
        ctx.print(buckets.length === 0 ? 'initialised: the file system is empty' : `the file system is initialised and holds ${buckets.length} buckets; init -force deletes everything`);
        return;
      }
      let files = 0;
      for (const b of buckets) {
        const keys = await keysUnder(ctx.client, b.name, '');
        files += keys.filter((k) => !k.key.endsWith('/')).length;
        await parallel(keys, (k) => ctx.client.remove(b.name, k.key));
        await ctx.client.deleteBucket(b.name);
      }
      ctx.cwd = '/';
      ctx.invalidate();
      ctx.print(`initialised: deleted ${plural(buckets.length, 'bucket')} and ${plural(files, 'file')}`);
    },
  },
  {
    name: 'show',
    usage: 'show [any_other_command]',
    summary: 'show the file-system tree, after running the given command if any (e.g. show mkdir my_folder)',
    async run(args, ctx) {
      if (args.length > 0) await runCommand(args, ctx);
      for (const line of await renderTree(ctx.client)) ctx.print(line);
    },
  },
  {
    name: 'cd',
    usage: 'cd [target_directory]',
    summary: 'change the current directory (/ alone: the root, where the buckets are)',
    remoteArgs: [0],
    async run(args, ctx) {
      need(args, 0, 'cd [target_directory]', 1);
      const p = resolvePath(ctx.cwd, args[0] ?? '/');
      const kind = await kindOf(ctx.client, p);
      if (kind === 'file') throw new ShellError(`${p.path} is a file, not a directory`);
      if (kind === 'none') throw new ShellError(`${p.path}: no such directory`);
      ctx.cwd = p.path;
    },
  },
  {
    name: 'pwd',
    usage: 'pwd',
    summary: 'print the current directory',
    async run(_args, ctx) {
      ctx.print(ctx.cwd);
    },
  },
  {
    name: 'ls',
    usage: 'ls [target_directory]',
    summary: 'list the contents of a directory (default: the current one)',
    remoteArgs: [0],
    async run(args, ctx) {
      need(args, 0, 'ls [target_directory]', 1);
      const p = resolvePath(ctx.cwd, args[0] ?? '.');
      if (p.bucket === undefined) {
        for (const b of await ctx.client.buckets()) ctx.print(`${'-'.padStart(10)}  ${b.name}/`);
        return;
      }
      const prefix = dirPrefix(p);
      const l = await ctx.client.list(p.bucket, prefix, { delimiter: true });
      const files = l.files.filter((f) => f.key !== prefix);
      if (l.dirs.length === 0 && files.length === 0 && l.files.length === 0) {
        const kind = await kindOf(ctx.client, p);
        if (kind === 'file') {
          const h = await ctx.client.head(p.bucket, p.key);
          ctx.print(`${humanSize(h?.size ?? 0).padStart(10)}  ${baseName(p.key)}`);
          return;
        }
        if (kind === 'none') throw new ShellError(`${p.path}: no such file or directory`);
      }
      for (const d of l.dirs) ctx.print(`${'-'.padStart(10)}  ${d.slice(prefix.length)}`);
      for (const f of files) ctx.print(`${humanSize(f.size).padStart(10)}  ${f.key.slice(prefix.length)}`);
    },
  },
  {
    name: 'mkdir',
    usage: 'mkdir dir_name',
    summary: 'create a folder (at the root: a bucket; inside one, a zero-byte "dir/" marker)',
    remoteArgs: 'all',
    async run(args, ctx) {
      need(args, 1, 'mkdir dir_name', 1);
      const p = resolvePath(ctx.cwd, args[0]!);
      if (p.bucket === undefined) throw new ShellError('/ already exists');
      const bucketThere = await ctx.client.bucketExists(p.bucket);
      if (p.key === '') {
        if (bucketThere) throw new ShellError(`${p.path} already exists`);
        await ctx.client.createBucket(p.bucket);
      } else {
        if (!bucketThere) await ctx.client.createBucket(p.bucket);
        const kind = await kindOf(ctx.client, p);
        if (kind !== 'none') throw new ShellError(`${p.path} already exists`);
        await ctx.client.putBytes(p.bucket, `${p.key}/`, Buffer.alloc(0), MARKER_TYPE);
      }
      ctx.invalidate();
      ctx.print(`created ${p.path}/`);
    },
  },
  {
    name: 'mkfiles',
    usage: 'mkfiles file1 [file2..]',
    summary: 'create new (empty) files',
    remoteArgs: 'all',
    async run(args, ctx) {
      need(args, 1, 'mkfiles file1 [file2..]');
      const failed: string[] = [];
      for (const a of args) {
        const p = resolvePath(ctx.cwd, a);
        try {
          const { bucket, key } = fileOf(p, 'mkfiles');
          const kind = await kindOf(ctx.client, p);
          if (kind !== 'none') throw new ShellError(`${p.path} already exists`);
          const parent = resolvePath(p.path, '..');
          if (!isDirKind(await kindOf(ctx.client, parent))) throw new ShellError(`${parent.path}: no such directory`);
          await ctx.client.putBytes(bucket, key, Buffer.alloc(0));
          ctx.print(`created ${p.path}`);
        } catch (err) {
          failed.push((err as Error).message);
        }
      }
      ctx.invalidate();
      if (failed.length > 0) throw new ShellError(failed.join('; '));
    },
  },
  {
    name: 'delete',
    usage: 'delete [-force] file1 ... fileN',
    summary: 'delete files and empty directories; -force also deletes directories (and buckets) with files inside',
    remoteArgs: 'all',
    async run(args, ctx) {
      const { set, rest } = flags(args, ['-force']);
      need(rest, 1, 'delete [-force] file1 ... fileN');
      const failed: string[] = [];
      for (const a of rest) {
        try {
          ctx.print(await deletePath(ctx, resolvePath(ctx.cwd, a), set.has('-force')));
        } catch (err) {
          failed.push((err as Error).message);
        }
      }
      ctx.invalidate();
      // The current directory may be gone.
      if ((await kindOf(ctx.client, resolvePath(ctx.cwd, '.'))) === 'none') ctx.cwd = '/';
      if (failed.length > 0) throw new ShellError(failed.join('; '));
    },
  },
  {
    name: 'info',
    usage: 'info [file_or_dir_path]',
    summary: 'information about a file (size, owner, partition, preference list, each replica\'s clock, siblings, pending hints) or a directory',
    remoteArgs: [0],
    async run(args, ctx) {
      need(args, 0, 'info [file_or_dir_path]', 1);
      const p = resolvePath(ctx.cwd, args[0] ?? '.');
      const kind = await kindOf(ctx.client, p);
      if (kind === 'none') throw new ShellError(`${p.path}: no such file or directory`);
      if (kind === 'file') await fileInfo(ctx, p);
      else await dirInfo(ctx, p, kind);
    },
  },
  {
    name: 'copy',
    usage: 'copy file_path target_dir',
    summary: 'copy a file into a directory (or to a new name); the copy shares the stored data',
    remoteArgs: 'all',
    async run(args, ctx) {
      need(args, 2, 'copy file_path target_dir', 2);
      const src = resolvePath(ctx.cwd, args[0]!);
      const from = fileOf(src, 'copy');
      if ((await kindOf(ctx.client, src)) !== 'file') throw new ShellError(`${src.path}: no such file`);
      const to = await placeInto(ctx.client, resolvePath(ctx.cwd, args[1]!), baseName(from.key));
      await copyFile(ctx.client, from, to);
      ctx.invalidate();
      ctx.print(`copied ${src.path} -> ${to.path}`);
    },
  },
  {
    name: 'move',
    usage: 'move source_path target_path',
    summary: 'move (or rename) a file, or a directory with its contents',
    remoteArgs: 'all',
    async run(args, ctx) {
      need(args, 2, 'move source_path target_path', 2);
      const src = resolvePath(ctx.cwd, args[0]!);
      const kind = await kindOf(ctx.client, src);
      if (kind === 'none') throw new ShellError(`${src.path}: no such file or directory`);
      if (kind === 'root' || kind === 'bucket') throw new ShellError(`${src.path} is a bucket; move its contents instead (move ${src.path}/dir target)`);
      const to = await placeInto(ctx.client, resolvePath(ctx.cwd, args[1]!), baseName(src.key));
      if (kind === 'file') {
        await copyFile(ctx.client, { bucket: src.bucket!, key: src.key }, to);
        await ctx.client.remove(src.bucket!, src.key);
        ctx.invalidate();
        ctx.print(`moved ${src.path} -> ${to.path}`);
        return;
      }
      const dst = fileOf(to, 'move');
      if (src.bucket === dst.bucket && (`${dst.key}/`.startsWith(`${src.key}/`))) throw new ShellError(`cannot move ${src.path} into itself`);
      const keys = await keysUnder(ctx.client, src.bucket!, `${src.key}/`);
      // Copy everything first, then delete: an interrupted move leaves a copy, never a loss.
      await parallel(keys, (k) => ctx.client.copy(src.bucket!, k.key, dst.bucket, dst.key + k.key.slice(src.key.length)));
      await parallel(keys, (k) => ctx.client.remove(src.bucket!, k.key));
      ctx.invalidate();
      if (ctx.cwd === src.path || ctx.cwd.startsWith(`${src.path}/`)) ctx.cwd = '/';
      ctx.print(`moved ${src.path}/ -> ${to.path}/ (${plural(keys.filter((k) => !k.key.endsWith('/')).length, 'file')})`);
    },
  },
  {
    name: 'upload',
    usage: 'upload file_local_path target_dfs_directory',
    summary: 'upload a local file into a directory (streamed: memory does not grow with the file)',
    remoteArgs: [1],
    localArgs: [0],
    async run(args, ctx) {
      need(args, 2, 'upload file_local_path target_dfs_directory', 2);
      const local = path.resolve(args[0]!);
      if (!existsSync(local) || !statSync(local).isFile()) throw new ShellError(`${args[0]}: no such local file`);
      const to = await placeInto(ctx.client, resolvePath(ctx.cwd, args[1]!), path.basename(local));
      const { bucket, key } = fileOf(to, 'upload');
      const size = statSync(local).size;
      const bar = ctx.progress(`upload ${path.basename(local)}`, size);
      const started = Date.now();
      let sent: number;
      try {
        sent = await ctx.client.upload(local, bucket, key, (n) => bar.update(n));
      } finally {
        bar.stop();
      }
      ctx.invalidate();
      ctx.print(`uploaded ${args[0]} -> ${to.path} (${sent} bytes, ${rate(sent, Date.now() - started)})`);
    },
  },
  {
    name: 'download',
    usage: 'download file_dfs_path target_local_directory',
    summary: 'download a file into a local directory (streamed)',
    remoteArgs: [0],
    localArgs: [1],
    async run(args, ctx) {
      need(args, 2, 'download file_dfs_path target_local_directory', 2);
      const src = resolvePath(ctx.cwd, args[0]!);
      const { bucket, key } = fileOf(src, 'download');
      const head = await ctx.client.head(bucket, key);
      if (head === undefined) throw new ShellError(`${src.path}: no such file`);
      const local = localTarget(args[1]!, baseName(key));
      const bar = ctx.progress(`download ${baseName(key)}`, head.size);
      const started = Date.now();
      let got: number;
      try {
        got = await ctx.client.download(bucket, key, local, (n) => bar.update(n));
      } finally {
        bar.stop();
      }
      ctx.print(`downloaded ${src.path} -> ${local} (${got} bytes, ${rate(got, Date.now() - started)})`);
    },
  },
  {
    name: 'cat',
    usage: 'cat file_path',
    summary: 'print a file',
    remoteArgs: [0],
    async run(args, ctx) {
      need(args, 1, 'cat file_path', 1);
      const p = resolvePath(ctx.cwd, args[0]!);
      const { bucket, key } = fileOf(p, 'cat');
      const body = await ctx.client.getBytes(bucket, key, 16 * 1024 * 1024);
      const text = body.toString('utf8');
      for (const line of text.replace(/\n$/, '').split('\n')) ctx.print(line);
    },
  },
  {
    name: 'put',
    usage: 'put KEY VALUE',
    summary: 'store VALUE (text) under KEY, a file path; shows where the write landed and the clocks (seed 000\'s create/update)',
    remoteArgs: [0],
    async run(args, ctx) {
      need(args, 2, 'put KEY VALUE', 2);
      const p = resolvePath(ctx.cwd, args[0]!);
      const { bucket, key } = fileOf(p, 'put');
      // The native API answers with the placement and every replica's clock.
      const r = await ctx.client.putNative(bucket, key, Buffer.from(args[1]!, 'utf8'), 'text/plain; charset=utf-8').catch((err: ClusterError) => {
        throw err.code === 'NoSuchBucket' ? new ShellError(`bucket ${bucket} does not exist (mkdir /${bucket})`) : err;
      });
      ctx.invalidate();
      ctx.print(`stored ${p.path}: partition ${String(r['partition'])}, written to ${(r['replicas_written'] as string[]).join(', ')} (preference list ${(r['preference_list'] as string[]).join(', ')})`);
      const clocks = r['vector_clocks'] as Record<string, unknown>;
      ctx.print(`  clocks: ${Object.entries(clocks).map(([n, c]) => `${n} ${clockText(c)}`).join('; ')}`);
    },
  },
  {
    name: 'get',
    usage: 'get KEY',
    summary: 'read KEY with every sibling, the replicas that answered and their clocks (seed 000\'s read)',
    remoteArgs: [0],
    async run(args, ctx) {
      need(args, 1, 'get KEY', 1);
      const p = resolvePath(ctx.cwd, args[0]!);
      const { bucket, key } = fileOf(p, 'get');
      const r = await ctx.client.readJson(bucket, key);
      const siblings = r['siblings'] as { dot: { node: string; counter: number }; value?: string; size: number; headers?: Record<string, string> }[];
      for (const s of siblings) {
        const chunked = s.headers?.['x-rs-layout'] === 'chunks';
        const text = chunked ? `<${s.headers?.['x-rs-size'] ?? '?'} bytes in chunks: use cat or download>` : s.value !== undefined ? s.value : `<${s.size} bytes of binary>`;
        ctx.print(siblings.length > 1 ? `[${s.dot.node}:${s.dot.counter}] ${text}` : text);
      }
      const clocks = r['vector_clocks'] as Record<string, unknown>;
      ctx.print(`  partition ${String(r['partition'])}, replicas read ${(r['replicas_read'] as string[]).join(', ')}; clocks: ${Object.entries(clocks).map(([n, c]) => `${n} ${clockText(c)}`).join('; ')}`);
    },
  },
  {
    name: 'find',
    aliases: ['search'],
    usage: 'find [QUERY]',
    summary: 'your files in every bucket whose path contains QUERY, or matches a glob (*.pdf, docs/**); no QUERY: all your files',
    async run(args, ctx) {
      need(args, 0, 'find [QUERY]', 1);
      const r = await ctx.client.userFiles(args[0], 10_000);
      const files = r['files'] as { path: string; size: number }[];
      for (const f of files) ctx.print(`${humanSize(f.size).padStart(10)}  /${f.path}`);
      ctx.print(`${plural(files.length, 'file')}${r['truncated'] === true ? ' (more not shown)' : ''} of ${String(r['user'])} (index replicas ${(r['replicas'] as string[]).join(', ')})`);
    },
  },
  {
    name: 'refresh',
    usage: 'refresh',
    summary: 'refresh the view of the cluster (nodes, buckets; forget cached completions)',
    async run(_args, ctx) {
      ctx.client.forgetNodes();
      ctx.invalidate();
      const nodes = await ctx.client.nodes();
      const up = await Promise.all(nodes.map((n) => ctx.client.health(n.http).then(() => true, () => false)));
      const buckets = await ctx.client.buckets();
      if ((await kindOf(ctx.client, resolvePath(ctx.cwd, '.'))) === 'none') ctx.cwd = '/';
      ctx.print(`${nodes.length} nodes (${nodes.map((n, i) => `${n.id} ${up[i] ? 'up' : 'DOWN'}`).join(', ')}), ${buckets.length} buckets`);
    },
  },
  {
    name: 'quit',
    aliases: ['exit', 'x', 'q'],
    usage: 'quit',
    summary: 'leave the shell (Ctrl-D too)',
    async run(_args, ctx) {
      ctx.quit = true;
    },
  },
];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name || (c.aliases ?? []).includes(name));
}

/** Runs one command given as words. */
export async function runCommand(words: string[], ctx: ShellContext): Promise<void> {
  const [name, ...args] = words;
  if (name === undefined) return;
  const c = findCommand(name);
  if (c === undefined) throw new ShellError(`unknown command: ${name} (help lists the commands)`);
  await c.run(args, ctx);
}

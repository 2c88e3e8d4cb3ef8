// The durability shim (native/durashim.cpp) from the tests' side: build it,
// the environment that loads it into a child process, and the restore that
// turns a killed process's files into what a power cut would have left
// (every byte not fsynced thrown away).

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** native/ at the top of the tree (this file runs from dist/test/durability/). */
const NATIVE = path.resolve(here, '..', '..', '..', 'native');

export interface Built {
  readonly shim: string;
  readonly probe: string;
}

/**
 * Compiles the shim and its probe program with g++, once per source
 * version (the output is cached under the temporary folder by content hash).
 */
export function buildShim(): Built {
  const src = path.join(NATIVE, 'durashim.cpp');
  const probeSrc = path.join(NATIVE, 'durashim-probe.cpp');
  const hash = createHash('sha256').update(readFileSync(src)).update(readFileSync(probeSrc)).digest('hex').slice(0, 16);
  const out = path.join(os.tmpdir(), `ringstore-durashim-${hash}`);
  const shim = path.join(out, 'durashim.so');
  const probe = path.join(out, 'durashim-probe');
  if (!existsSync(shim) || !existsSync(probe)) {
    mkdirSync(out, { recursive: true });
    // Built beside, then renamed: a concurrent run never loads half a file.
    const tmp = `.${process.pid}`;
    execFileSync('g++', ['-O2', '-Wall', '-shared', '-fPIC', '-o', shim + tmp, src, '-ldl'], { stdio: 'pipe' });
    execFileSync('g++', ['-O2', '-Wall', '-o', probe + tmp, probeSrc], { stdio: 'pipe' });
    renameSync(shim + tmp, shim);
    renameSync(probe + tmp, probe);
  }
  return { shim, probe };
}

/**
 * The variables that load the shim into a child: it tracks files under the
 * `roots` (except *.log) and keeps their synced contents in `shadowDir`.
 * libuv is kept off io_uring, whose writes the shim would not see.
 */
export function shimEnv(shim: string, shadowDir: string, roots: readonly string[]): Record<string, string> {
  return { LD_PRELOAD: shim, DURASHIM_DIR: shadowDir, DURASHIM_ROOT: roots.join(':'), UV_USE_IO_URING: '0' };
}

export interface RestoreResult {
  /** Tracked files found under the root. */
  readonly files: number;
  /** Files whose contents differed from their synced state, and were put back to it. */
  readonly changed: number;
  /** Bytes that differed (or were beyond the synced size) in those files. */
  readonly discardedBytes: number;
}

/**
 * Puts every tracked file under `root` back to its last synced contents.
 * Run only after the processes that wrote them are dead.
 */
export function restoreSynced(shadowDir: string, root: string): RestoreResult {
  let files = 0;
  let changed = 0;
  let discardedBytes = 0;
  const walk = (dir: string): void => {
    for (const ent of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, ent.name);
      if (ent.isDirectory()) walk(p);
      if (!ent.isFile()) continue;
      const st = statSync(p, { bigint: true });
      const shadow = path.join(shadowDir, `${st.dev}-${st.ino}`);
      if (!existsSync(shadow)) continue;
      files++;
      const synced = readFileSync(shadow);
      const now = readFileSync(p);
      if (synced.equals(now)) continue;
      changed++;
      discardedBytes += differingBytes(synced, now);
      writeFileSync(p, synced);
    }
  };
  walk(root);
  return { files, changed, discardedBytes };
}

function differingBytes(a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length);
  let d = Math.abs(a.length - b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) d++;
  return d;
}

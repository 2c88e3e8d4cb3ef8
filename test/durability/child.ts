// Child process for test/durability/shim.test.ts, run under the shim and
// killed with SIGKILL once it printed what it was asked to.
//
//   child.js fs <file> <how>     writes "old" durably, then "new" in one of
//                                Node's ways (how: sync-nosync, sync-fsync,
//                                async-nosync, async-datasync, writefile-nosync),
//                                prints "ready" and waits.
//   child.js lmdb-nosync <dir>   LMDB with noSync (commits never fdatasync'd):
//                                puts keys k/0, k/1, ... and prints "k <i>"
//                                once each put's promise resolved.
//
// (The store's own settings are exercised by test/fixtures/store-crash-writer.)

import { openSync, fsyncSync, closeSync, writeFileSync, writeSync } from 'node:fs';
import { open as openFile, writeFile } from 'node:fs/promises';
import { open } from 'lmdb';

async function fsMode(file: string, how: string): Promise<void> {
  writeFileSync(file, 'old');
  const fd0 = openSync(file, 'r+');
  fsyncSync(fd0);
  closeSync(fd0);
  if (how === 'sync-nosync' || how === 'sync-fsync') {
    const fd = openSync(file, 'r+');
    writeSync(fd, 'new', 0);
    if (how === 'sync-fsync') fsyncSync(fd);
  } else if (how === 'async-nosync' || how === 'async-datasync') {
    const fh = await openFile(file, 'r+');
    await fh.write(Buffer.from('new'), 0, 3, 0);
    if (how === 'async-datasync') await fh.datasync();
  } else if (how === 'writefile-nosync') {
    await writeFile(file, 'new');
  } else {
    throw new Error(`unknown way ${how}`);
  }
  process.stdout.write('ready\n');
  setInterval(() => {}, 60_000);
}

async function lmdbNoSync(dir: string): Promise<void> {
  const db = open({ path: dir, noSync: true, overlappingSync: false });
  let next = 0;
  const worker = async (): Promise<never> => {
    for (;;) {
      const i = next++;
      await db.put(`k/${i}`, { i, pad: 'x'.repeat(100 + (i % 500)) });
      process.stdout.write(`k ${i}\n`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

const [mode, target, how] = process.argv.slice(2);
if (process.argv[1]?.endsWith('child.js') && mode !== undefined && target !== undefined) {
  const run = mode === 'fs' ? fsMode(target, how ?? '') : mode === 'lmdb-nosync' ? lmdbNoSync(target) : Promise.reject(new Error(`unknown mode ${mode}`));
  run.catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm ci` through the prepare script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const entry = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error('ringstore: dist/ is missing; run `npm ci` (or `npm run build`) first');
  process.exit(1);
}
// Big values are written to files (src/store/blobs.ts) by libuv's thread
// pool, several fsyncs at a time; its default of 4 threads queues them.
process.env.UV_THREADPOOL_SIZE ??= '16';
await import(entry.href);

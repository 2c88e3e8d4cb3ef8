// Scenario transcripts (test/raft/testdata/*.txt): each file is a script of
// commands, each followed by the exact transcript the cluster must print.
// REWRITE=1 regenerates the transcripts from the code; review the diff.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InteractionEnv, parseCommand } from './interaction-env.js';

// Compiled to dist/test/raft/; the scripts stay in the source tree.
const DIR = fileURLToPath(new URL('../../../test/raft/testdata/', import.meta.url));

/** Runs a script and returns the file as it should read: comments and commands kept, every transcript replaced by what the code printed. */
export function runScript(text: string): string {
  const env = new InteractionEnv();
  const lines = text.split('\n');
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] as string;
    if (line.trim() === '' || line.startsWith('#')) {
      out.push(line);
      i++;
      continue;
    }
    out.push(line, '----');
    i++;
    if (lines[i] !== '----') throw new Error(`line ${i + 1}: expected ---- after the command "${line}"`);
    i++;
    while (i < lines.length && (lines[i] as string).trim() !== '') i++;
    out.push(env.run(parseCommand(line)));
  }
  return out.join('\n');
}

for (const file of readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort()) {
  test(`transcript ${file} matches`, () => {
    const path = DIR + file;
    const want = readFileSync(path, 'utf8');
    const got = runScript(want);
    if (process.env.REWRITE === '1') {
      if (got !== want) writeFileSync(path, got);
      return;
    }
    assert.equal(got, want);
  });
}

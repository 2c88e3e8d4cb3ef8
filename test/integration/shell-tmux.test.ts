// `ringstore shell` in a real terminal: tmux runs it against a real 3-node
// cluster, the test types with send-keys and reads the screen with
// capture-pane, waiting for the text it expects (never a fixed sleep).
// Every seed-002 command, tab completion, history across sessions, every
// way out, and a 50 MiB upload and download compared byte for byte.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCluster, waitFor, type TestCluster } from '../helpers/cluster.js';

const TMUX = '/usr/bin/tmux';
const BIN = fileURLToPath(new URL('../../../bin/ringstore.js', import.meta.url));
const MiB = 1024 * 1024;
/** The prompt at the end of the screen (capture-pane drops its trailing space). */
const PROMPT = /ringstore:\/[^\n]*>$/;

function tmux(socket: string, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(TMUX, ['-L', socket, ...args], { maxBuffer: 64 * MiB }, (err, stdout, stderr) => (err !== null ? reject(new Error(`tmux ${args[0]}: ${err.message} ${stderr}`)) : resolve(stdout)));
  });
}

/** A terminal with the shell in it. */
class Terminal {
  private mark = 0;
  constructor(
    readonly socket: string,
    readonly target: string,
  ) {}

  /** The whole scrollback, wrapped lines joined, trailing blank lines dropped. */
  async screen(): Promise<string> {
    return (await tmux(this.socket, 'capture-pane', '-p', '-J', '-S', '-', '-t', this.target)).replace(/\s+$/, '');
  }

  /** What appeared since the last command was typed. */
  async since(): Promise<string> {
    const lines = (await this.screen()).split('\n');
    return lines.slice(this.mark).join('\n');
  }

  async typeText(text: string): Promise<void> {
    await tmux(this.socket, 'send-keys', '-t', this.target, '-l', text);
  }

  async key(...keys: string[]): Promise<void> {
    await tmux(this.socket, 'send-keys', '-t', this.target, ...keys);
  }

  /** Remembers where the screen is, so that since() shows only what follows. */
  async markNow(): Promise<void> {
    this.mark = Math.max(0, (await this.screen()).split('\n').length - 1);
  }

  async waitFor(pred: (text: string) => boolean, what: string, timeoutMs = 60_000): Promise<string> {
    let last = '';
    await waitFor(
      async () => {
        last = await this.since();
        return pred(last);
      },
      { what: `${what}; the screen shows:\n${last}`, timeoutMs, intervalMs: 100 },
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n--- screen since the command ---\n${await this.since()}`);
    });
    return last;
  }

  /** Types a command, presses Enter, waits for `expect` and then the next prompt; returns the output. */
  async run(command: string, expect: string | RegExp, timeoutMs = 60_000): Promise<string> {
    await this.markNow();
    await this.typeText(command);
    await this.key('Enter');
    const has = (t: string): boolean => (typeof expect === 'string' ? t.includes(expect) : expect.test(t));
    const out = await this.waitFor((t) => has(t) && PROMPT.test(t) && t.split('\n').length > 1, `"${command}" to show ${String(expect)}`, timeoutMs);
    return out;
  }

  /** Forgets the scrollback: a respawned pane starts on a cleared screen, above the old mark. */
  async clear(): Promise<void> {
    await tmux(this.socket, 'clear-history', '-t', this.target);
    this.mark = 0;
  }

  async paneDead(): Promise<boolean> {
    return (await tmux(this.socket, 'list-panes', '-t', this.target, '-F', '#{pane_dead}')).trim() === '1';
  }
}

describe('ringstore shell in a real terminal (tmux) against a 3-node cluster', () => {
  let cluster: TestCluster;
  let work: string;
  let term: Terminal;
  let shellCommand: string;
  const socket = `rs-shell-test-${process.pid}`;

  before(async () => {
    assert.ok(existsSync(TMUX), `${TMUX} is needed (Debian package tmux)`);
    cluster = await startCluster({ nodes: 3 });
    work = mkdtempSync(path.join(os.tmpdir(), 'ringstore-shell-'));
    mkdirSync(path.join(work, 'down'));
    const env = `RINGSTORE_SHELL_HISTORY=${path.join(work, 'history')}`;
    shellCommand = `cd ${work} && ${env} ${process.execPath} ${BIN} shell --cluster ${path.join(cluster.dir, 'cluster.json')}`;
    await tmux(socket, '-f', '/dev/null', 'start-server', ';', 'set-option', '-g', 'history-limit', '200000', ';', 'new-session', '-d', '-s', 'sh', '-x', '200', '-y', '50', shellCommand, ';', 'set-option', '-t', 'sh', 'remain-on-exit', 'on');
    term = new Terminal(socket, 'sh');
    await term.waitFor((t) => PROMPT.test(t), 'the first prompt', 30_000);
  });

  after(async () => {
    await tmux(socket, 'kill-server').catch(() => undefined);
    await cluster?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  /** Starts the shell again in the same pane (after a way out). */
  const respawn = async (): Promise<void> => {
    await term.clear();
    await tmux(socket, 'respawn-pane', '-k', '-t', 'sh', shellCommand);
    await term.waitFor((t) => t.includes('ringstore shell: ') && PROMPT.test(t), 'the prompt of the new shell', 30_000);
  };

  test('help, ? and help <cmd> show the commands and their usage text', async () => {
    const out = await term.run('help', 'quit / exit / x / q');
    for (const c of ['init', 'show', 'cd', 'ls', 'mkdir', 'mkfiles', 'delete', 'info', 'copy', 'move', 'upload', 'download', 'refresh', 'cat', 'put', 'get', 'find / search']) assert.match(out, new RegExp(`\\n  ${c.replace(/[/]/g, '\\/')}\\s`), c);
    await term.run('?', 'help / ?');
    await term.run('help upload', 'usage: upload file_local_path target_dfs_directory');
    await term.run('help delete', 'usage: delete [-force] file1 ... fileN');
    await term.run('help show', 'usage: show [any_other_command]');
    await term.run('help nothing', 'error: no such command: nothing');
  });

  test('init on an empty cluster, mkdir, cd, ls, mkfiles, show mkdir x', async () => {
    await term.run('init', 'initialised: the file system is empty');
    await term.run('mkdir /tbucket', 'created /tbucket/');
    await term.run('mkdir /tbucket/docs', 'created /tbucket/docs/');
    await term.run('cd /tbucket', 'ringstore:/tbucket>');
    await term.run('mkfiles a.txt docs/b.txt', 'created /tbucket/docs/b.txt');
    const ls = await term.run('ls', /a\.txt/);
    assert.match(ls, /-\s+docs\//);
    assert.match(ls, /0 B\s+a\.txt/);
    const shown = await term.run('show mkdir x', /└── a\.txt \(0 B\)/);
    assert.match(shown, /created \/tbucket\/x\//);
    assert.match(shown, /^\/$/m);
    // The tree after the command: docs/ with b.txt, then the new x/, then the files.
    assert.match(shown, /└── tbucket\/\n {4}├── docs\/\n {4}│ {3}└── b\.txt \(0 B\)\n {4}├── x\/\n {4}└── a\.txt \(0 B\)/);
    await term.run('cd docs', 'ringstore:/tbucket/docs>');
    await term.run('cd ..', 'ringstore:/tbucket>');
    await term.run('cd /nowhere', 'error: /nowhere: no such directory');
    await term.run('mkdir x', 'error: /tbucket/x already exists');
  });

  test('put, get and cat: seed 000\'s key operations show placement and clocks', async () => {
    const put = await term.run('put /tbucket/greeting "hello ringstore"', /clocks: /);
    assert.match(put, /stored \/tbucket\/greeting: partition \d+, written to n\d, n\d/);
    const got = await term.run('get /tbucket/greeting', /partition \d+, replicas read/);
    assert.match(got, /^hello ringstore$/m);
    // One version minted by one node (its counter comes from the node's lease, so not necessarily 1).
    assert.match(got, /clocks: n\d \{n\d+(~\d+)?:\d+\}/);
    await term.run('cat greeting', /^hello ringstore$/m);
  });

  test('tab completes commands and remote paths', async () => {
    await term.markNow();
    await term.typeText('mkf');
    await term.key('Tab');
    await term.waitFor((t) => t.endsWith('mkfiles'), 'mkf to complete to mkfiles');
    await term.key('C-u');
    await term.typeText('ls /tbu');
    await term.key('Tab');
    await term.waitFor((t) => t.endsWith('ls /tbucket/'), '/tbu to complete to /tbucket/');
    await term.typeText('do');
    await term.key('Tab');
    await term.waitFor((t) => t.endsWith('ls /tbucket/docs/'), 'do to complete to docs/');
    await term.key('Enter');
    await term.waitFor((t) => /0 B\s+b\.txt/.test(t) && PROMPT.test(t), 'the completed ls to run');
  });

  test('a 50 MiB upload and download stream with progress bars and come back byte for byte; info shows three replicas and their clocks', async () => {
    const big = path.join(work, 'big.bin');
    const data = randomBytes(50 * MiB);
    writeFileSync(big, data);
    const up = await term.run('upload ./big.bin /tbucket/docs', /uploaded \.\/big\.bin -> \/tbucket\/docs\/big\.bin \(52428800 bytes/, 180_000);
    assert.match(up, /upload big\.bin \|.*\| 100% \| 50\.0 MiB \/ 50\.0 MiB/);
    const down = await term.run('download /tbucket/docs/big.bin ./down', /downloaded \/tbucket\/docs\/big\.bin -> .*big\.bin \(52428800 bytes/, 180_000);
    assert.match(down, /download big\.bin \|.*\| 100%/);
    const back = readFileSync(path.join(work, 'down', 'big.bin'));
    assert.equal(back.length, data.length);
    assert.ok(back.equals(data), 'the downloaded file is byte for byte the uploaded one');

    const info = await term.run('info /tbucket/docs/big.bin', /hints: none pending/, 60_000);
    assert.match(info, /\/tbucket\/docs\/big\.bin: file, 52428800 bytes/);
    assert.match(info, /partition \d+; preference list n\d, n\d, n\d/);
    const replicas = info.match(/^ {2}n\d: read clock \{n\d:\d+\}; stores n\d:\d+, clock \{n\d:\d+\}$/gm) ?? [];
    assert.equal(replicas.length, 3, `three replicas with their clocks:\n${info}`);
    assert.match(info, /siblings \(1\):\n {2}n\d:\d+ clock \{n\d:\d+\}, 52428800 bytes/);
    await term.run('info /tbucket', /\/tbucket: bucket, owner dev/);
  });

  test('copy, move, find and delete -force of a non-empty folder', async () => {
    await term.run('copy /tbucket/docs/big.bin /tbucket/x', 'copied /tbucket/docs/big.bin -> /tbucket/x/big.bin');
    await term.run('move /tbucket/a.txt /tbucket/x', 'moved /tbucket/a.txt -> /tbucket/x/a.txt');
    await term.run('mkdir /tarchive', 'created /tarchive/');
    await term.run('move /tbucket/x /tarchive', 'moved /tbucket/x/ -> /tarchive/x/ (2 files)');
    const ls = await term.run('ls /tarchive/x', /a\.txt/);
    assert.match(ls, /50\.0 MiB\s+big\.bin/);
    const found = await term.run('find big', /files of dev/);
    assert.match(found, /50\.0 MiB\s+\/tarchive\/x\/big\.bin/);
    assert.match(found, /50\.0 MiB\s+\/tbucket\/docs\/big\.bin/);
    const globbed = await term.run('search "*.txt"', /files of dev/);
    assert.match(globbed, /\/tarchive\/x\/a\.txt/);
    assert.match(globbed, /\/tbucket\/docs\/b\.txt/);
    await term.run('delete /tbucket/docs', 'error: /tbucket/docs is not empty (2 files); use delete -force');
    await term.run('delete -force /tbucket/docs', 'deleted /tbucket/docs/ (2 files)');
    const after = await term.run('ls /tbucket', /greeting/);
    assert.doesNotMatch(after, /docs\//);
    await term.run('delete /tbucket/greeting', 'deleted /tbucket/greeting');
    await term.run('delete /tbucket/nothing', 'error: /tbucket/nothing: no such file or directory');
  });

  test('refresh, info / and init -force', async () => {
    await term.run('refresh', /3 nodes \(n1 up, n2 up, n3 up\), 2 buckets/);
    await term.run('info /', /\/: 2 buckets on 3 nodes/);
    await term.run('init', 'holds 2 buckets; init -force deletes everything');
    await term.run('init -force', 'initialised: deleted 2 buckets and 2 files');
    const shown = await term.run('show', /^\/$/m);
    assert.doesNotMatch(shown, /tbucket|tarchive/);
  });

  test('quit, exit, x, q and Ctrl-D each leave the shell; history survives into the next session', async () => {
    for (const way of ['quit', 'exit', 'x', 'q', 'C-d']) {
      await term.markNow();
      if (way === 'C-d') await term.key('C-d');
      else {
        await term.typeText(way);
        await term.key('Enter');
      }
      await waitFor(() => term.paneDead(), { what: `the shell to exit on ${way}`, timeoutMs: 30_000 });
      await respawn();
    }
    // The previous sessions' commands are one Up away.
    await term.markNow();
    await term.key('Up');
    await term.waitFor((t) => t.endsWith('> q'), 'Up to recall the last command of the last session');
    await term.key('Up', 'Up');
    await term.waitFor((t) => t.endsWith('> exit'), 'Up to go further back (q, x, exit)');
    await term.key('C-u');
    const history = readFileSync(path.join(work, 'history'), 'utf8');
    assert.match(history, /^upload \.\/big\.bin \/tbucket\/docs$/m);
  });

  test('-c runs commands without a prompt and stops at the first error', () => {
    const file = path.join(cluster.dir, 'cluster.json');
    writeFileSync(path.join(work, 'a.pdf'), 'not really a pdf');
    const out = execFileSync(process.execPath, [BIN, 'shell', '--cluster', file, '-c', 'mkdir /cbucket; mkdir /cbucket/docs; upload ./a.pdf /cbucket/docs; ls /cbucket/docs'], { cwd: work, encoding: 'utf8' });
    assert.match(out, /uploaded \.\/a\.pdf -> \/cbucket\/docs\/a\.pdf \(16 bytes/);
    assert.match(out, /16 B\s+a\.pdf/);
    let failed: { status: number; stdout: string } | undefined;
    try {
      execFileSync(process.execPath, [BIN, 'shell', '--cluster', file, '-c', 'cat /cbucket/docs/missing; ls /cbucket'], { cwd: work, encoding: 'utf8' });
    } catch (err) {
      failed = err as { status: number; stdout: string };
    }
    assert.equal(failed?.status, 1);
    assert.match(failed!.stdout, /^error: .*missing.*$/m);
    assert.doesNotMatch(failed!.stdout, /^\s+-\s+docs\/$/m, 'nothing ran after the error (ls would list docs/)');
  });
});

// The shell's view of the cluster as a file tree: `/` holds the buckets,
// `/bucket` is a bucket, `/bucket/dir/file` the key `dir/file`; directories
// are key prefixes ending in '/', and `mkdir` leaves a zero-byte `dir/`
// marker so that an empty directory exists. Pure functions: paths, command
// lines, sizes.

export interface RemotePath {
  /** Normalised absolute path: '/', '/b', '/b/dir/file' (no trailing '/'). */
  readonly path: string;
  /** undefined at the root. */
  readonly bucket: string | undefined;
  /** The key ('' for the bucket itself). */
  readonly key: string;
}

/**
 * `arg` resolved against the working directory `cwd`: absolute when it
 * starts with '/', '.' and '..' handled, repeated slashes collapsed. A
 * trailing '/' is dropped (directories are named without it).
 */
export function resolvePath(cwd: string, arg: string): RemotePath {
  const raw = arg.startsWith('/') ? arg : `${cwd}/${arg}`;
  const out: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  const [bucket, ...rest] = out;
  return { path: '/' + out.join('/'), bucket, key: rest.join('/') };
}

/** The key prefix of everything inside a directory ('' for a bucket's root). */
export function dirPrefix(p: RemotePath): string {
  return p.key === '' ? '' : `${p.key}/`;
}

/** The last segment of a path or key. */
export function baseName(pathOrKey: string): string {
  const trimmed = pathOrKey.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** The path of `name` inside directory `dir`. */
export function joinPath(dir: RemotePath, name: string): RemotePath {
  return resolvePath(dir.path, name.replace(/^\/+/, ''));
}

/** Error for command-line syntax: an unterminated quote. */
export class SyntaxError extends Error {
  override name = 'SyntaxError';
}

/**
 * Splits a command line into words as a POSIX shell would for the simple
 * cases: whitespace separates, '...' keeps everything literally, "..."
 * keeps everything but lets \" and \\ escape, a backslash outside quotes
 * escapes the next character.
 */
export function splitArgs(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new SyntaxError('unterminated quote (\')');
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && (line[j + 1] === '"' || line[j + 1] === '\\')) j++;
        cur += line[j];
      }
      if (j >= line.length) throw new SyntaxError('unterminated quote (")');
      i = j;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/**
 * Splits a `-c` script into commands at ';' and newlines outside quotes
 * (`mkdir /b/docs; upload ./a.pdf /b/docs`).
 */
export function splitCommands(script: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  for (let i = 0; i < script.length; i++) {
    const c = script[i]!;
    if (quote !== undefined) {
      if (c === '\\' && quote === '"' && i + 1 < script.length) {
        cur += c + script[++i];
        continue;
      }
      if (c === quote) quote = undefined;
      cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      cur += c;
    } else if (c === '\\' && i + 1 < script.length) {
      cur += c + script[++i];
    } else if (c === ';' || c === '\n') {
      if (cur.trim() !== '') out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (cur.trim() !== '') out.push(cur.trim());
  return out;
}

/** 1536 -> "1.5 KiB". */
export function humanSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

/** `word` with characters a shell would split on escaped, for completions. */
export function escapeWord(word: string): string {
  return word.replace(/([\s'"\\;])/g, '\\$1');
}

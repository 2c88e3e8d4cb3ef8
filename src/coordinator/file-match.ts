// File name matching for searches (seed 003's FileSearch, the shell's
// `find`): a query with a glob character (* ? [) is a glob, anything else a
// substring. Pure; shared by the per-user index, the native API, the gRPC
// API and the shell.

/** True when the query is a glob rather than a plain substring. */
export function isGlob(query: string): boolean {
  return /[*?[]/.test(query);
}

/**
 * The glob as an anchored regular expression. `*` matches within one path
 * segment (no '/'), `**` across segments, `?` one character other than '/',
 * `[abc]`, `[a-z]` and `[!abc]` (or `[^abc]`) a character class; a `[`
 * without its `]` is a literal. Everything else is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      let negate = false;
      if (body.startsWith('!') || body.startsWith('^')) {
        negate = true;
        body = body.slice(1);
      }
      // Inside a class only \ ] ^ need escaping; '-' keeps its range meaning.
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\\/\]]/g, '\\$&');
  }
  return new RegExp(re + '$', 'u');
}

/**
 * A predicate over a file's path `bucket/key`. Substring queries match
 * anywhere in the path, ignoring case. Globs are case-sensitive, like a
 * shell's; a glob with a '/' is matched against the whole path, one
 * without against the file's base name (after the last '/'), so `*.pdf`
 * finds PDFs in any folder of any bucket.
 */
export function fileMatcher(query: string): (path: string) => boolean {
  if (!isGlob(query)) {
    const needle = query.toLowerCase();
    return (path) => path.toLowerCase().includes(needle);
  }
  const re = globToRegExp(query);
  if (query.includes('/')) return (path) => re.test(path);
  return (path) => re.test(path.slice(path.lastIndexOf('/') + 1));
}

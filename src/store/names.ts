// The names the cluster accepts, one rule for every API: bucket names follow
// S3's naming rules for general purpose buckets (what S3 users and their
// tools expect), keys are 1 to 1024 bytes of UTF-8 that the store can keep
// faithfully. Each API maps a problem to its own error code (native:
// InvalidBucketName, InvalidKey, KeyTooLong; S3: InvalidBucketName,
// KeyTooLongError, InvalidArgument). Pure.

export const MAX_KEY_BYTES = 1024;

const BUCKET_CHARS_RE = /^[a-z0-9][a-z0-9.-]*[a-z0-9]$/;
const IPV4_RE = /^\d+\.\d+\.\d+\.\d+$/;
/** Reserved by S3 for its own names (sthree-configurator starts with sthree-). */
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
/** Reserved by S3 for access point, Multi-Region Access Point, directory and table bucket names. */
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/**
 * Why `name` is not a valid bucket name (a phrase that follows the name in
 * a message), or undefined if it is one. S3's rules: 3 to 63 characters of
 * lowercase letters, digits, dots and hyphens, starting and ending with a
 * letter or digit, no two adjacent dots, not shaped like an IPv4 address,
 * none of S3's reserved prefixes and suffixes.
 */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'must be 3 to 63 characters long';
  if (!BUCKET_CHARS_RE.test(name)) return 'may contain only lowercase letters, digits, dots and hyphens, and must start and end with a letter or digit';
  if (name.includes('..')) return 'must not contain two adjacent dots';
  if (IPV4_RE.test(name)) return 'must not look like an IP address';
  const prefix = RESERVED_PREFIXES.find((p) => name.startsWith(p));
  if (prefix !== undefined) return `must not start with ${JSON.stringify(prefix)}, which S3 reserves`;
  const suffix = RESERVED_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix !== undefined) return `must not end with ${JSON.stringify(suffix)}, which S3 reserves`;
  return undefined;
}

/** Why a key is refused: empty, longer than MAX_KEY_BYTES of UTF-8, or not storable faithfully. */
export type KeyProblem =
  | { readonly kind: 'empty' }
  | { readonly kind: 'tooLong'; readonly bytes: number }
  | { readonly kind: 'unstorable'; readonly why: string };

export function keyProblem(key: string): KeyProblem | undefined {
  if (key.length === 0) return { kind: 'empty' };
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) return { kind: 'tooLong', bytes };
  const why = unstorable(key);
  return why !== undefined ? { kind: 'unstorable', why } : undefined;
}

const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why a key cannot be stored faithfully, or undefined if it can. The LMDB
 * key encoding (ordered-binary) escapes U+0000..U+0004 only in short
 * strings: in a long one they come back from a scan as a different name,
 * and a lone surrogate comes back as U+FFFD. Such keys would read back by
 * name but list, page and repair as another key, so every API refuses them
 * up front.
 */
function unstorable(key: string): string | undefined {
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) <= 4) return 'contains a control character U+0000..U+0004';
  if (LONE_SURROGATE_RE.test(key)) return 'is not well-formed Unicode (a lone surrogate)';
  return undefined;
}

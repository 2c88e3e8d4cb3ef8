// The cluster-wide listing merges per-node pages; its key order must be the
// stores' (code points), or keys near a page bound are skipped.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startHarness } from './s3-harness.js';

test('listing pages across the cluster return every key once, in code-point order, astral keys included', async () => {
  const h = await startHarness({ nodes: 3 });
  try {
    const c = h.coordinators.values().next().value!;
    // U+E000..U+FFFF sort after U+10000.. in UTF-16 order but before them in code-point order.
    const keys = ['a', '\uE000', '\uFFFD', '\u{10000}', '\u{1F600}', 'z', '\uE001x', '\u{10001}y'];
    for (const key of keys) await c.put({ bucket: 'lst', key, value: new Uint8Array([1]), context: null, w: 3 });
    const expected = [...keys].sort((x, y) => {
      const a = [...x].map((ch) => ch.codePointAt(0)!);
      const b = [...y].map((ch) => ch.codePointAt(0)!);
      for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
      return a.length - b.length;
    });
    for (const limit of [1, 2, 3, 100]) {
      const seen: string[] = [];
      let after: string | undefined;
      for (let i = 0; i < 50; i++) {
        const page = await c.list({ bucket: 'lst', after, limit });
        seen.push(...page.keys.map((k) => k.key));
        if (!page.truncated || page.keys.length === 0) break;
        after = page.keys[page.keys.length - 1]!.key;
      }
      assert.deepEqual(seen, expected, `limit ${limit}`);
    }
  } finally {
    await h.close();
  }
});

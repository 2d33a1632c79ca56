// The progress bar of map and imap: drawn on a TTY only, counting items or reading a Counter.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Counter } from '../../src/index.js';
import { makePool, task } from './util.js';

function fakeTty(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write(chunk: string) {
    s.text += chunk;
    return true;
  } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('progress', () => {
  for (const kind of ['thread', 'serial'] as const) {
    it(`${kind}: map counts items on a TTY, and draws nothing elsewhere`, async () => {
      const pool = makePool(kind);
      try {
        const tty = fakeTty(true);
        assert.deepEqual(await pool.map(task('echo'), [1, 2, 3, 4], { chunksize: 1, progress: { stream: tty, label: 'work ' } }), [1, 2, 3, 4]);
        assert.match(tty.text, /work \[#+\] 4\/4 100%/);
        assert.ok(tty.text.endsWith('\n'));
        const pipe = fakeTty(false);
        await pool.map(task('echo'), [1, 2], { progress: { stream: pipe } });
        assert.equal(pipe.text, '');
        const items: unknown[] = [];
        const bar = fakeTty(true);
        for await (const v of pool.imap(task('echo'), [5, 6, 7], { progress: { stream: bar } })) items.push(v);
        assert.deepEqual(items, [5, 6, 7]);
        assert.match(bar.text, /3\/3 100%/);
      } finally {
        await pool.terminate();
      }
    });

    it(`${kind}: a Counter the tasks increment drives the bar`, async () => {
      const pool = makePool(kind);
      try {
        using c = Counter.create();
        const tty = fakeTty(true);
        await pool.starmap(task('count'), [[c, 10], [c, 20], [c, 30]], { progress: { counter: c, total: 60, stream: tty } });
        assert.match(tty.text, /60\/60 100%/);
      } finally {
        await pool.terminate();
      }
    });
  }
});

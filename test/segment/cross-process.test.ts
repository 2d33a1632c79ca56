import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Worker } from 'node:worker_threads';

import { Segment } from '../../src/index.js';
import { runSnippet, spawnSnippet } from '../helpers/child.js';
import { exists, uniqueName, waitFor } from '../helpers/shm.js';

describe('segments across processes', () => {
  it('an unrelated process attaches by name and both see each other\'s writes', async () => {
    const n = uniqueName('xproc');
    const s = Segment.create(n, 8 * 1024);
    const f = new Float64Array(s.buffer);
    f[0] = 1.25;
    const child = spawnSnippet(
      `const s = nd.Segment.open(args[0]);
       const f = new Float64Array(s.buffer);
       send({ saw: f[0], size: s.byteLength });
       f[1] = 2.5;
       send({ wrote: true });
       await next();               // wait until the parent has written again
       send({ saw2: f[2] });
       s.close();`,
      [n],
    );
    assert.deepEqual(await child.message(), { saw: 1.25, size: 8192 });
    await child.message();
    assert.equal(f[1], 2.5);
    f[2] = 3.75;
    child.send('go');
    assert.deepEqual(await child.message(), { saw2: 3.75 });
    assert.equal((await child.exited).code, 0);
    s.close();
    s.unlink();
  });

  it('a read-only attach in another process cannot change the shared bytes, and lives on', async () => {
    const n = uniqueName('roproc');
    const s = Segment.create(n, 4096);
    new Uint8Array(s.buffer)[0] = 11;
    const r = await runSnippet(
      `const s = nd.Segment.open(args[0], { readOnly: true });
       const v = new Uint8Array(s.buffer);
       const before = v[0];
       v[0] = 200;
       send({ before, after: v[0] });`,
      [n],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.messages, [{ before: 11, after: 200 }]);
    assert.equal(new Uint8Array(s.buffer)[0], 11);
    s.close();
    s.unlink();
  });

  it('a process that only attached never removes the segment, whether it exits, throws or is killed', async () => {
    const n = uniqueName('attacher');
    const s = Segment.create(n, 64);
    const ends = ['', 'throw new Error("boom")', 'process.exit(3)'];
    for (const end of ends) {
      const r = await runSnippet(`const s = nd.Segment.open(args[0]); send({ ok: s.byteLength }); ${end}`, [n]);
      assert.equal(r.messages[0]?.['ok'], 64);
      assert.equal(exists(n), true, `removed by an attacher ending with: ${end || 'return'}`);
    }
    const child = spawnSnippet(`nd.Segment.open(args[0]); send({ ready: 1 }); await next();`, [n]);
    await child.message();
    child.process.kill('SIGKILL');
    await child.exited;
    assert.equal(exists(n), true, 'removed after an attacher was killed');
    s.close();
    s.unlink();
  });

  it('a worker thread attaches by name and writes into the same bytes', async () => {
    const n = uniqueName('worker');
    const s = Segment.create(n, 1024);
    const url = new URL('../../src/index.js', import.meta.url).href;
    const w = new Worker(
      `import('${url}').then(({ Segment }) => {
         const s = Segment.open(${JSON.stringify(n)});
         new Int32Array(s.buffer)[5] = 1234;
         s.close();
         require('worker_threads').parentPort.postMessage('done');
       });`,
      { eval: true },
    );
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await w.terminate();
    assert.equal(new Int32Array(s.buffer)[5], 1234);
    s.close();
    s.unlink();
  });

  it('a worker thread\'s own non-persistent segment goes when the worker ends', async () => {
    const n = uniqueName('wown');
    const url = new URL('../../src/index.js', import.meta.url).href;
    const w = new Worker(
      `import('${url}').then(({ Segment }) => {
         Segment.create(${JSON.stringify(n)}, 64);
         require('worker_threads').parentPort.postMessage('made');
         setInterval(() => {}, 1000);
       });`,
      { eval: true },
    );
    await new Promise((resolve) => w.once('message', resolve));
    assert.equal(exists(n), true);
    await w.terminate();
    await waitFor(() => !exists(n), 2000, `${n} to go after its worker ended`);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Counter } from '../../src/index.js';
import { runSnippet, spawnSnippet } from '../helpers/child.js';
import { errorCode } from '../helpers/errors.js';
import { rejectionCode, sleep, startWorker } from './util.js';

// Increments `count` times by 1 (or by the steps in args[2]), collecting the lines it logs; starts
// when told "go" so that every contender runs at once.
const incrementer = `
  const lines = [];
  const c = nd.Counter.open(JSON.parse(args[0]), { log: (l) => lines.push(l) });
  const count = Number(args[1]);
  send({ ready: true });
  await next();
  let last = 0;
  for (let i = 0; i < count; i++) last = c.increment();
  send({ done: true, lines, last });
  c.close();`;

describe('Counter', () => {
  it('2 processes and 2 worker threads incrementing at once reach the exact total; each milestone is logged exactly once', async () => {
    const per = 100000;
    const lines: string[] = [];
    const c = Counter.create({ printEvery: 1000, message: 'done {count} of {}', log: (l) => lines.push(l) });
    const handle = JSON.stringify(c.handle);
    const children = [0, 1].map(() => spawnSnippet(incrementer, [handle, String(per)]));
    const workers = [0, 1].map(() =>
      startWorker(
        `const lines = [];
         const c = nd.Counter.open(data.handle, { log: (l) => lines.push(l) });
         post({ ready: true });
         await next();
         for (let i = 0; i < data.per; i++) c.increment();
         post({ done: true, lines });
         c.close();`,
        { handle: c.handle, per },
      ),
    );
    for (const ch of children) await ch.message();
    for (const w of workers) await w.message();
    for (const ch of children) ch.send('go');
    for (const w of workers) w.post('go');
    const results = [
      ...(await Promise.all(children.map((ch) => ch.message<{ lines: string[] }>()))),
      ...(await Promise.all(workers.map((w) => w.message<{ lines: string[] }>()))),
    ];
    assert.equal(c.value, 4 * per);
    assert.equal(c.bigValue, BigInt(4 * per));
    const all = [...lines, ...results.flatMap((r) => r.lines)].sort((a, b) => Number(a.split(' ')[1]) - Number(b.split(' ')[1]));
    const expected = Array.from({ length: (4 * per) / 1000 }, (_, k) => `done ${(k + 1) * 1000} of ${(k + 1) * 1000}`);
    assert.deepEqual(all, expected);
    for (const ch of children) assert.equal((await ch.exited).code, 0);
    for (const w of workers) await w.exited;
    c.close();
  });

  it('one increment crossing several milestones logs once, with the new count (as PyNitride does)', () => {
    const lines: string[] = [];
    const c = Counter.create({ printEvery: 10, log: (l) => lines.push(l) });
    assert.equal(c.increment(9), 9);
    assert.equal(c.increment(35), 44); // crosses 10, 20, 30, 40
    assert.equal(c.increment(), 45);
    assert.equal(c.increment(5), 50);
    assert.equal(c.increment(-20), 30, 'negative steps are allowed; they log nothing');
    assert.equal(c.increment(0), 30);
    assert.equal(c.increment(10), 40, 'crossing 40 again logs again');
    c.add(5);
    c.add();
    assert.equal(c.value, 46);
    c.add(4); // crosses 50
    assert.deepEqual(lines, ['Count: 44', 'Count: 50', 'Count: 40', 'Count: 50']);
    assert.equal(c.printEvery, 10);
    assert.equal(c.message, 'Count: {}');
    c.close();
  });

  it('without printEvery nothing is logged; the default log writes lines to stderr', async () => {
    const quiet: string[] = [];
    const q = Counter.create({ log: (l) => quiet.push(l) });
    for (let i = 0; i < 100; i++) q.increment();
    assert.deepEqual(quiet, []);
    q.close();
    const r = await runSnippet(`const c = nd.Counter.create({ printEvery: 2, message: 'at {count}' }); c.increment(); c.increment(); c.increment(3); send({ v: c.value }); c.close();`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.messages, [{ v: 5 }]);
    assert.equal(r.stderr, 'at 2\nat 5\n');
  });

  it('counts past 2^32 and keeps all 64 bits', () => {
    const c = Counter.create();
    c.increment(2 ** 40);
    assert.equal(c.increment(), 2 ** 40 + 1);
    assert.equal(c.bigValue, 2n ** 40n + 1n);
    c.close();
  });

  it('bad options and steps are EINVAL: printEvery <= 0 or not an integer, message too long, fractional steps', () => {
    for (const printEvery of [0, -1, 1.5, Number.NaN, Infinity, '10']) {
      assert.equal(errorCode(() => Counter.create({ printEvery: printEvery as number })), 'EINVAL', `printEvery ${String(printEvery)}`);
    }
    assert.equal(errorCode(() => Counter.create({ message: 5 as never })), 'EINVAL');
    assert.equal(errorCode(() => Counter.create({ message: 'é'.repeat(513) })), 'EINVAL');
    assert.equal(errorCode(() => Counter.create({ log: 'console' as never })), 'EINVAL');
    assert.equal(errorCode(() => Counter.create({ printevery: 5 } as never)), 'EINVAL');
    const c = Counter.create({ message: 'é'.repeat(512) });
    for (const n of [1.5, Number.NaN, '1', 2 ** 60]) {
      assert.equal(errorCode(() => c.increment(n as number)), 'EINVAL', `step ${String(n)}`);
      assert.equal(errorCode(() => c.add(n as number)), 'EINVAL', `add ${String(n)}`);
    }
    assert.equal(c.value, 0);
    assert.equal(Counter.open(c.handle).message, 'é'.repeat(512), 'the message travels in the segment');
    c.close();
  });

  it('waitFor resolves when another process reaches the target; timeouts, AbortSignal and close end it', async () => {
    const c = Counter.create();
    const child = spawnSnippet(
      `const c = nd.Counter.open(JSON.parse(args[0])); await next();
       for (let i = 0; i < 10; i++) { c.increment(); await new Promise((r) => setTimeout(r, 5)); }
       c.close();`,
      [JSON.stringify(c.handle)],
    );
    const reached = c.waitFor(10, { timeoutMs: 5000 });
    child.send('go');
    assert.equal(await reached, 10);
    assert.equal((await child.exited).code, 0);
    assert.equal(await c.waitFor(3), 10, 'already there');
    let t = performance.now();
    assert.equal(await rejectionCode(c.waitFor(11, { timeoutMs: 50 })), 'ETIMEDOUT');
    assert.ok(performance.now() - t >= 45);
    t = performance.now();
    assert.equal(errorCode(() => c.waitForSync(11, { timeoutMs: 50 })), 'ETIMEDOUT');
    assert.ok(performance.now() - t >= 45);
    assert.equal(await rejectionCode(c.waitFor(11, { signal: AbortSignal.timeout(30) })), 'EABORTED');
    const pending = c.waitFor(100);
    await sleep(10);
    c.close();
    assert.equal(await rejectionCode(pending), 'ECLOSED');
  });

  it('waitForSync in a worker wakes on another thread\'s increments', async () => {
    const c = Counter.create();
    const w = startWorker(`const c = nd.Counter.open(data); post({ ready: true }); post({ got: c.waitForSync(3, { timeoutMs: 5000 }) }); c.close();`, c.handle);
    await w.message();
    await sleep(20);
    c.increment();
    c.add();
    await sleep(20);
    c.add();
    assert.deepEqual(await w.message(), { got: 3 });
    await w.exited;
    c.close();
  });

  it('every use after close() is ECLOSED', async () => {
    const c = Counter.create();
    c.close();
    c.close();
    assert.equal(c.closed, true);
    assert.equal(errorCode(() => c.increment()), 'ECLOSED');
    assert.equal(errorCode(() => c.add()), 'ECLOSED');
    assert.equal(errorCode(() => c.value), 'ECLOSED');
    assert.equal(errorCode(() => c.bigValue), 'ECLOSED');
    assert.equal(errorCode(() => c.waitForSync(1)), 'ECLOSED');
    assert.equal(await rejectionCode(c.waitFor(1)), 'ECLOSED');
  });
});

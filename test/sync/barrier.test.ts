import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Barrier, Segment } from '../../src/index.js';
import { spawnSnippet } from '../helpers/child.js';
import { errorCode } from '../helpers/errors.js';
import { uniqueName } from '../helpers/shm.js';
import { rejectionCode, sleep, startWorker } from './util.js';

// A member process: opens the barrier (args[0]) and the round table (args[1]); for each of args[2]
// rounds writes its round into its own cell (args[3]), waits (waitSync or wait, args[4]), and checks
// that every cell has reached the round. Reports its arrival indices.
const member = `
  const b = nd.Barrier.open(JSON.parse(args[0]));
  const s = nd.Segment.open(args[1]);
  const cells = new Int32Array(s.buffer);
  const rounds = Number(args[2]);
  const me = Number(args[3]);
  const indices = [];
  let behind = 0;
  send({ ready: true });
  for (let r = 1; r <= rounds; r++) {
    Atomics.store(cells, me, r);
    indices.push(args[4] === 'sync' ? b.waitSync({ timeoutMs: 10000 }) : await b.wait({ timeoutMs: 10000 }));
    for (let k = 0; k < b.parties; k++) if (Atomics.load(cells, k) < r) behind++;
  }
  send({ indices, behind });
  b.close();
  s.close();`;

describe('Barrier', () => {
  it('4 processes pass 50 rounds together (sync and async waiters mixed); arrival indices cover 0..3 each round', async () => {
    const b = Barrier.create(4);
    const name = uniqueName('rounds');
    const s = Segment.create(name, 64);
    try {
      const rounds = 50;
      const children = [0, 1, 2, 3].map((k) => spawnSnippet(member, [JSON.stringify(b.handle), name, String(rounds), String(k), k % 2 === 0 ? 'sync' : 'async']));
      const results = await Promise.all(children.map(async (c) => {
        await c.message();
        return c.message<{ indices: number[]; behind: number; error?: string }>();
      }));
      for (const r of results) {
        assert.equal(r.error, undefined);
        assert.equal(r.behind, 0, 'a waiter passed before everyone arrived');
      }
      for (let r = 0; r < rounds; r++) {
        assert.deepEqual(results.map((x) => x.indices[r]).sort(), [0, 1, 2, 3], `round ${r + 1}`);
      }
      for (const c of children) assert.equal((await c.exited).code, 0);
      assert.equal(b.broken, false);
      assert.equal(b.nWaiting, 0);
    } finally {
      s.close();
      s.unlink();
      b.close();
    }
  });

  it('a member killed with SIGKILL while the others wait: they reject with EBROKEN within a second, later waiters too', async () => {
    const b = Barrier.create(4);
    const waiter = `
      const b = nd.Barrier.open(JSON.parse(args[0]));
      send({ ready: true });
      await next();
      const t = performance.now();
      try { args[1] === 'sync' ? b.waitSync() : await b.wait(); send({ passed: true }); }
      catch (e) { send({ code: e.code, ms: performance.now() - t, message: e.message }); }`;
    const others = [spawnSnippet(waiter, [JSON.stringify(b.handle), 'sync']), spawnSnippet(waiter, [JSON.stringify(b.handle), 'async'])];
    const victim = spawnSnippet(`const b = nd.Barrier.open(JSON.parse(args[0])); send({ ready: true }); await next();`, [JSON.stringify(b.handle)]);
    for (const c of [...others, victim]) await c.message();
    for (const c of others) c.send('go');
    const mine = b.wait();
    await sleep(150); // everyone but the victim is waiting
    assert.equal(b.nWaiting, 3);
    const killedAt = performance.now();
    victim.process.kill('SIGKILL');
    assert.equal(await rejectionCode(mine), 'EBROKEN');
    const ms = performance.now() - killedAt;
    assert.ok(ms < 1000, `EBROKEN after ${ms.toFixed(0)} ms`);
    for (const c of others) {
      const r = await c.message<{ code: string; ms: number; message: string }>();
      assert.equal(r.code, 'EBROKEN');
      assert.match(r.message, new RegExp(`member pid ${victim.process.pid}`));
      assert.ok(r.ms < 1500);
    }
    assert.equal(b.broken, true);
    assert.equal(await rejectionCode(b.wait()), 'EBROKEN', 'a later waiter');
    assert.equal(errorCode(() => b.waitSync()), 'EBROKEN');
    b.close();
  });

  it('a terminated worker-thread member breaks it too', async () => {
    const b = Barrier.create(2);
    const w = startWorker(`const b = nd.Barrier.open(data); post({ member: b.member }); for (;;) {}`, b.handle);
    assert.deepEqual(await w.message(), { member: true });
    const mine = b.wait({ timeoutMs: 5000 });
    await sleep(50);
    await w.worker.terminate();
    assert.equal(await rejectionCode(mine), 'EBROKEN');
    b.close();
  });

  it('a member that closed is no longer watched; member: false takes no slot; slots run out with ETOOMANY', async () => {
    const b = Barrier.create(2, { maxMembers: 2 });
    const child = spawnSnippet(`const b = nd.Barrier.open(JSON.parse(args[0])); b.close(); send({ closed: true });`, [JSON.stringify(b.handle)]);
    await child.message();
    await child.exited;
    const observer = Barrier.open(b.handle, { member: false });
    assert.equal(observer.member, false);
    const second = Barrier.open(b.handle);
    assert.equal(errorCode(() => Barrier.open(b.handle)), 'ETOOMANY');
    const a = second.wait();
    assert.equal(b.waitSync({ timeoutMs: 5000 }), 1);
    assert.equal(await a, 0);
    assert.equal(b.broken, false);
    second.close();
    Barrier.open(b.handle).close(); // the slot is free again
    observer.close();
    b.close();
  });

  it('a timeout gives ETIMEDOUT and breaks the barrier for the others; so does an aborted wait; abort() breaks it', async () => {
    let b = Barrier.create(3);
    let other = Barrier.open(b.handle);
    const t = performance.now();
    const waiting = other.wait();
    assert.equal(errorCode(() => b.waitSync({ timeoutMs: 60 })), 'ETIMEDOUT');
    assert.ok(performance.now() - t >= 55);
    assert.equal(await rejectionCode(waiting), 'EBROKEN');
    assert.equal(await rejectionCode(b.wait()), 'EBROKEN');
    other.close();
    b.close();

    b = Barrier.create(3);
    other = Barrier.open(b.handle);
    const w2 = other.wait();
    assert.equal(await rejectionCode(b.wait({ timeoutMs: 40 })), 'ETIMEDOUT');
    assert.equal(await rejectionCode(w2), 'EBROKEN');
    other.close();
    b.close();

    b = Barrier.create(2);
    other = Barrier.open(b.handle);
    const ac = new AbortController();
    const w3 = b.wait({ signal: ac.signal });
    await sleep(20);
    ac.abort();
    assert.equal(await rejectionCode(w3), 'EABORTED');
    assert.equal(await rejectionCode(other.wait()), 'EBROKEN');
    other.close();
    b.close();

    b = Barrier.create(2);
    const w4 = b.wait();
    await sleep(20);
    const aborter = Barrier.open(b.handle, { member: false });
    aborter.abort();
    aborter.close();
    assert.equal(await rejectionCode(w4), 'EBROKEN');
    const aborted = new AbortController();
    aborted.abort();
    assert.equal(await rejectionCode(b.wait({ signal: aborted.signal })), 'EABORTED');
    b.close();
  });

  it('one party passes at once; parties and options are checked; after close everything is ECLOSED', async () => {
    const one = Barrier.create(1);
    assert.equal(one.waitSync(), 0);
    assert.equal(await one.wait(), 0);
    one.close();
    for (const p of [0, -1, 1.5, 65536, '2']) assert.equal(errorCode(() => Barrier.create(p as number)), 'EINVAL', `parties ${String(p)}`);
    assert.equal(errorCode(() => Barrier.create(2, { maxMembers: 0 })), 'EINVAL');
    assert.equal(errorCode(() => Barrier.create(2, { members: 3 } as never)), 'EINVAL');
    const b = Barrier.create(2);
    const pending = b.wait();
    b.close();
    assert.equal(await rejectionCode(pending), 'ECLOSED');
    for (const f of [() => b.waitSync(), () => b.broken, () => b.nWaiting, () => b.abort()]) assert.equal(errorCode(f), 'ECLOSED');
    assert.equal(await rejectionCode(b.wait()), 'ECLOSED');
  });
});

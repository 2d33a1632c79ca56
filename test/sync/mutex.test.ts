import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Mutex, Segment } from '../../src/index.js';
import { runSnippet, spawnSnippet } from '../helpers/child.js';
import { errorCode } from '../helpers/errors.js';
import { exists, uniqueName, waitFor } from '../helpers/shm.js';
import { rejectionCode, sleep, startWorker } from './util.js';

// A child that opens the mutex (args[0], a JSON handle), locks it, says so, and waits for a line:
// "unlock" unlocks and says so; anything else (or end of input) ends the process still holding it.
const holder = `
  const m = nd.Mutex.open(JSON.parse(args[0]));
  m.lockSync();
  send({ locked: true });
  for (;;) {
    const line = await next();
    if (line !== 'unlock') break;
    m.unlock();
    send({ unlocked: true });
    if ((await next()) === 'lock') { m.lockSync(); send({ locked: true }); } else break;
  }`;

async function holding(m: Mutex) {
  const child = spawnSnippet(holder, [JSON.stringify(m.handle)]);
  assert.deepEqual(await child.message(), { locked: true });
  return child;
}

// 20,000 unprotected read-modify-writes of v[0] with a window between the read and the write; both
// children start together (they spin on v[1] until the parent sets it).
const rmw = `
  const m = nd.Mutex.open(JSON.parse(args[0]));
  const s = nd.Segment.open(args[1]);
  const v = new Int32Array(s.buffer);
  const how = args[2];
  send({ ready: true });
  while (Atomics.load(v, 1) === 0) {}
  const t = performance.now();
  for (let i = 0; i < 20000; i++) {
    if (how === 'sync') m.lockSync(); else if (how === 'async') await m.lock();
    const x = v[0];
    for (let k = 0; k < 40; k++) Atomics.load(v, 2);
    v[0] = x + 1;
    if (how !== 'none') m.unlock();
  }
  send({ done: true, ms: performance.now() - t });
  m.close();
  s.close();`;

async function contend(how: [string, string]): Promise<{ total: number; ms: number[] }> {
  const m = Mutex.create();
  const name = uniqueName('rmw');
  const s = Segment.create(name, 64);
  const v = new Int32Array(s.buffer);
  try {
    const children = how.map((h) => spawnSnippet(rmw, [JSON.stringify(m.handle), name, h]));
    for (const c of children) await c.message();
    Atomics.store(v, 1, 1);
    const done = await Promise.all(children.map((c) => c.message<{ ms: number }>()));
    for (const c of children) assert.equal((await c.exited).code, 0);
    return { total: v[0]!, ms: done.map((d) => Math.round(d.ms)) };
  } finally {
    s.close();
    s.unlink();
    m.close();
  }
}

describe('Mutex', () => {
  it('2 processes × 20,000 read-modify-writes under the lock give exactly 40,000; without it updates are lost', async () => {
    const control = await contend(['none', 'none']);
    assert.ok(control.total < 40000, `without the lock the test must lose updates (got ${control.total}); otherwise it proves nothing`);
    const sync = await contend(['sync', 'sync']);
    assert.equal(sync.total, 40000, `lockSync × lockSync (${sync.ms.join(', ')} ms)`);
    const mixed = await contend(['sync', 'async']);
    assert.equal(mixed.total, 40000, `lockSync × lock() (${mixed.ms.join(', ')} ms)`);
  });

  it('a holder killed with SIGKILL: a pending lock() resolves promptly with abandoned: true, and so does a blocked lockSync()', async () => {
    const m = Mutex.create();
    const a = await holding(m);
    const pending = m.lock({ timeoutMs: 10000 });
    await sleep(50); // lock() is waiting on the waiter thread now
    const killedAt = performance.now();
    a.process.kill('SIGKILL');
    const r = await pending;
    const asyncMs = performance.now() - killedAt;
    assert.deepEqual(r, { abandoned: true });
    assert.ok(asyncMs < 500, `lock() took ${asyncMs.toFixed(1)} ms after the kill`);
    m.unlock();
    assert.deepEqual(m.lockSync(), { abandoned: false }, 'recovered: the next lock is an ordinary one');
    m.unlock();

    // lockSync blocks this thread, so the holder kills itself 100 ms after locking.
    const b = spawnSnippet(
      `const m = nd.Mutex.open(JSON.parse(args[0])); m.lockSync(); send({ locked: true });
       setTimeout(() => process.kill(process.pid, 'SIGKILL'), 100); await next();`,
      [JSON.stringify(m.handle)],
    );
    await b.message();
    const start = performance.now();
    assert.deepEqual(m.lockSync({ timeoutMs: 10000 }), { abandoned: true });
    const syncMs = performance.now() - start;
    assert.ok(syncMs < 2000, `lockSync took ${syncMs.toFixed(1)} ms (the kill came after ~100 ms)`);
    m.unlock();
    await a.exited;
    await b.exited;
    m.close();
  });

  for (const end of ['terminate() while busy', 'terminate() while idle', 'process.exit() in the worker', 'the worker returning']) {
    it(`a worker thread holding it ends (${end}): the next locker gets abandoned: true`, async () => {
      const m = Mutex.create();
      const tail = {
        'terminate() while busy': 'for (;;) {}',
        'terminate() while idle': 'setInterval(() => {}, 1000); await new Promise(() => {});',
        'process.exit() in the worker': 'process.exit(0);',
        'the worker returning': '',
      }[end];
      const w = startWorker(`const m = nd.Mutex.open(data); m.lockSync(); post({ locked: m.heldByMe }); ${tail}`, m.handle);
      assert.deepEqual(await w.message(), { locked: true });
      if (end.startsWith('terminate')) await w.worker.terminate();
      await w.exited;
      assert.deepEqual(await m.lock({ timeoutMs: 5000 }), { abandoned: true });
      m.unlock();
      m.close();
    });
  }

  it('16 pending lock() calls leave libuv\'s thread pool alone: fs.promises.readFile answers in a few ms (UV_THREADPOOL_SIZE=4)', async () => {
    const ms = Array.from({ length: 16 }, () => Mutex.create());
    for (const m of ms) m.lockSync();
    const child = spawnSnippet(
      `const ms = JSON.parse(args[0]).map((h) => nd.Mutex.open(h));
       const pending = ms.map((m) => m.lock());
       await new Promise((r) => setTimeout(r, 100));
       const fs = await import('node:fs/promises');
       const times = [];
       for (let i = 0; i < 5; i++) {
         const t = performance.now();
         await fs.readFile(process.argv[1]);
         times.push(performance.now() - t);
       }
       send({ times });
       const results = await Promise.all(pending);
       send({ acquired: results.filter((r) => r.abandoned === false).length });
       for (const m of ms) { m.unlock(); m.close(); }`,
      [JSON.stringify(ms.map((m) => m.handle))],
      { env: { UV_THREADPOOL_SIZE: '4' } },
    );
    const { times } = await child.message<{ times: number[] }>();
    const sorted = [...times].sort((x, y) => x - y);
    assert.ok(sorted[2]! < 20, `readFile took ${times.map((t) => t.toFixed(2)).join(', ')} ms with 16 lock() calls pending`);
    for (const m of ms) m.unlock();
    assert.deepEqual(await child.message(), { acquired: 16 });
    assert.equal((await child.exited).code, 0);
    for (const m of ms) m.close();
  });

  it('more waits than one futex_waitv takes (150 mutexes) all complete; process.exit() with waits pending ends at once', async () => {
    const ms = Array.from({ length: 150 }, () => Mutex.create());
    const child = spawnSnippet(
      `const ms = JSON.parse(args[0]).map((h) => nd.Mutex.open(h));
       for (const m of ms) m.lockSync();
       send({ locked: true });
       await next();
       for (const m of ms) m.unlock();
       await next();`,
      [JSON.stringify(ms.map((m) => m.handle))],
    );
    await child.message();
    const pending = ms.map((m) => m.lock({ timeoutMs: 10000 }));
    await sleep(50);
    child.send('unlock');
    const results = await Promise.all(pending);
    assert.equal(results.filter((r) => !r.abandoned).length, 150);
    for (const m of ms) m.unlock();
    child.send('exit');
    await child.exited;
    ms[0]!.lockSync();
    const quitter = spawnSnippet(
      `const m = nd.Mutex.open(JSON.parse(args[0])); void m.lock(); void m.lock({ timeoutMs: 60000 });
       setTimeout(() => process.exit(7), 50);`,
      [JSON.stringify(ms[0]!.handle)],
    );
    const t = performance.now();
    assert.equal((await quitter.exited).code, 7);
    assert.ok(performance.now() - t < 3000);
    ms[0]!.unlock();
    for (const m of ms) m.close();
  });

  it('timeouts and AbortSignal give ETIMEDOUT and EABORTED, and the mutex works afterwards', async () => {
    const m = Mutex.create();
    const h = await holding(m);
    let t = performance.now();
    assert.equal(await rejectionCode(m.lock({ timeoutMs: 60 })), 'ETIMEDOUT');
    let elapsed = performance.now() - t;
    assert.ok(elapsed >= 55 && elapsed < 1000, `lock timed out after ${elapsed} ms`);
    t = performance.now();
    assert.equal(errorCode(() => m.lockSync({ timeoutMs: 60 })), 'ETIMEDOUT');
    elapsed = performance.now() - t;
    assert.ok(elapsed >= 55 && elapsed < 1000, `lockSync timed out after ${elapsed} ms`);
    assert.equal(await rejectionCode(m.lock({ signal: AbortSignal.timeout(60) })), 'EABORTED');
    const ac = new AbortController();
    ac.abort();
    assert.equal(await rejectionCode(m.lock({ signal: ac.signal })), 'EABORTED');
    assert.equal(errorCode(() => m.lockSync({ signal: ac.signal })), 'EABORTED');
    assert.equal(await rejectionCode(m.lock({ timeoutMs: 0 })), 'ETIMEDOUT');
    assert.equal(m.tryLock(), null);
    // several waits given up while others keep waiting
    const ac2 = new AbortController();
    const gaveUp = m.lock({ signal: ac2.signal });
    const keeps = m.lock({ timeoutMs: 5000 });
    ac2.abort(new Error('no longer needed'));
    assert.equal(await rejectionCode(gaveUp), 'EABORTED');
    h.send('unlock');
    await h.message();
    assert.deepEqual(await keeps, { abandoned: false });
    m.unlock();
    h.send('exit');
    await h.exited;
    assert.equal(await rejectionCode(m.lock({ timeoutMs: -1 })), 'EINVAL');
    assert.equal(await rejectionCode(m.lock({ timeout: 5 } as never)), 'EINVAL');
    assert.equal(errorCode(() => m.lockSync({ signal: 'x' as never })), 'EINVAL');
    m.close();
  });

  it('lock() calls of one object queue in order; another Mutex object of the same thread waits for the first', async () => {
    const m = Mutex.create();
    m.lockSync();
    const order: number[] = [];
    const all = [1, 2, 3].map((n) =>
      m.lock().then(() => {
        order.push(n);
        m.unlock();
      }),
    );
    await sleep(20);
    assert.deepEqual(order, []);
    m.unlock();
    await Promise.all(all);
    assert.deepEqual(order, [1, 2, 3]);

    const other = Mutex.open(m.handle);
    m.lockSync();
    assert.equal(errorCode(() => other.lockSync()), 'ELOCKED', 'lockSync would wait for this very thread');
    assert.equal(errorCode(() => m.lockSync()), 'ELOCKED');
    assert.equal(other.tryLock(), null);
    let got = false;
    const p = other.lock().then((r) => {
      got = true;
      return r;
    });
    await sleep(30);
    assert.equal(got, false);
    m.unlock();
    assert.deepEqual(await p, { abandoned: false });
    assert.equal(other.heldByMe, true);
    assert.equal(m.heldByMe, false);
    other.unlock();
    other.close();
    m.close();
  });

  it('unlock() by anything but the holder is ENOTOWNER: never locked, another object, another process, a worker thread', async () => {
    const m = Mutex.create();
    assert.equal(errorCode(() => m.unlock()), 'ENOTOWNER');
    const other = Mutex.open(m.handle);
    m.lockSync();
    assert.equal(errorCode(() => other.unlock()), 'ENOTOWNER');
    const w = startWorker(
      `const m = nd.Mutex.open(data);
       try { m.unlock(); post({ code: 'no error' }); } catch (e) { post({ code: e.code }); }
       m.close();`,
      m.handle,
    );
    assert.deepEqual(await w.message(), { code: 'ENOTOWNER' });
    await w.exited;
    m.unlock();
    const h = await holding(m);
    assert.equal(errorCode(() => m.unlock()), 'ENOTOWNER');
    h.send('unlock');
    await h.message();
    h.send('exit');
    await h.exited;
    assert.deepEqual(m.tryLock(), { abandoned: false });
    m.unlock();
    other.close();
    m.close();
  });

  it('close() while held is ELOCKED; after close every method is ECLOSED and pending lock() calls reject', async () => {
    const m = Mutex.create();
    m.lockSync();
    assert.equal(errorCode(() => m.close()), 'ELOCKED');
    const other = Mutex.open(m.handle);
    const pending = other.lock();
    other.close();
    assert.equal(await rejectionCode(pending), 'ECLOSED');
    m.unlock();
    m.close();
    m.close(); // again: nothing
    assert.equal(m.closed, true);
    assert.equal(errorCode(() => m.lockSync()), 'ECLOSED');
    assert.equal(errorCode(() => m.tryLock()), 'ECLOSED');
    assert.equal(errorCode(() => m.unlock()), 'ECLOSED');
    assert.equal(await rejectionCode(m.lock()), 'ECLOSED');
    assert.equal(await rejectionCode(m.withLock(() => 1)), 'ECLOSED');
    assert.equal(m.handle.kind, 'mutex', 'the handle is plain data and stays readable');
  });

  it('withLock runs the function holding the lock and unlocks when it settles, also when it throws', async () => {
    const m = Mutex.create();
    assert.equal(await m.withLock(() => (m.heldByMe ? 'held' : 'not held')), 'held');
    assert.equal(m.heldByMe, false);
    await assert.rejects(m.withLock(async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(m.heldByMe, false);
    m.close();
  });

  it('a handle crosses JSON and postMessage; a worker and this thread take turns', async () => {
    const m = Mutex.create();
    const handle = JSON.parse(JSON.stringify(m.handle)) as typeof m.handle;
    assert.deepEqual(Object.keys(handle).sort(), ['id', 'kind', 'name', 'ndshm']);
    const w = startWorker(
      `const m = nd.Mutex.open(data);
       for (let i = 0; i < 200; i++) { await m.lock(); m.unlock(); }
       post({ done: true }); m.close();`,
      handle,
    );
    for (let i = 0; i < 200; i++) {
      await m.lock();
      m.unlock();
    }
    assert.deepEqual(await w.message(), { done: true });
    await w.exited;
    m.close();
  });

  it('the creator removes the name when it closes or ends (even by SIGKILL); openers never do; persistent stays; mappings outlive the name', async () => {
    const m = Mutex.create({ name: uniqueName('mlife') });
    const opener = Mutex.open(m.handle);
    opener.close();
    assert.equal(exists(m.name), true, 'an opener closing does not remove it');
    const other = Mutex.open(m.handle);
    m.close();
    assert.equal(exists(m.name), false, 'the creator closing removes the name');
    assert.deepEqual(other.lockSync(), { abandoned: false }, 'a mapping outlives the name');
    other.unlock();
    other.close();

    const p = Mutex.create({ name: uniqueName('mpers'), persistent: true });
    p.close();
    assert.equal(exists(p.name), true);
    Segment.unlink(p.name);

    const creator = spawnSnippet(`const m = nd.Mutex.create(); send(m.handle); await next();`);
    const handle = await creator.message<ReturnType<() => Mutex['handle']>>();
    const kept = Mutex.open(handle);
    creator.process.kill('SIGKILL');
    await creator.exited;
    await waitFor(() => !exists(handle.name), 3000, 'the killed creator\'s mutex to be removed');
    assert.deepEqual(kept.lockSync(), { abandoned: false });
    kept.unlock();
    kept.close();

    const m2 = Mutex.create();
    const a2 = spawnSnippet(`nd.Mutex.open(JSON.parse(args[0])).lockSync(); send({ ok: 1 }); await next();`, [JSON.stringify(m2.handle)]);
    await a2.message();
    a2.process.kill('SIGKILL');
    await a2.exited;
    assert.equal(exists(m2.name), true, 'a killed opener does not remove it');
    assert.deepEqual(m2.lockSync(), { abandoned: true });
    m2.unlock();
    m2.close();
  });

  it('a lock left unrecoverable by a foreign user is ENOTRECOVERABLE everywhere, never a hang (and glibc\'s trylock leaves no lock behind)', async () => {
    const m = Mutex.create();
    const raw = Segment.open(m.name);
    const words = new Int32Array(raw.buffer, 128, 3);
    words[2] = 0x7ffffffe; // __owner = PTHREAD_MUTEX_NOTRECOVERABLE (INT_MAX - 1 in glibc)
    assert.equal(errorCode(() => m.tryLock()), 'ENOTRECOVERABLE');
    assert.equal(words[0], 0, 'the lock word is free again after trylock');
    assert.equal(errorCode(() => m.lockSync({ timeoutMs: 1000 })), 'ENOTRECOVERABLE');
    assert.equal(errorCode(() => m.lockSync()), 'ENOTRECOVERABLE');
    assert.equal(await rejectionCode(m.lock({ timeoutMs: 1000 })), 'ENOTRECOVERABLE');
    const r = await runSnippet(
      `const m = nd.Mutex.open(JSON.parse(args[0]));
       for (const f of [() => m.tryLock(), () => m.lockSync({ timeoutMs: 2000 })]) { try { f(); send('no error'); } catch (e) { send(e.code); } }`,
      [JSON.stringify(m.handle)],
    );
    assert.deepEqual(r.messages, ['ENOTRECOVERABLE', 'ENOTRECOVERABLE']);
    assert.equal(words[0], 0);
    raw.close();
    m.close();
  });
});

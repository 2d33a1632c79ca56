// Who removes an array, and when: scopes, owners that die, readers that leave, managers, gc.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Segment, SharedMemoryManager, SharedNDArray, type SharedNDArrayHandle, gc } from '../../src/index.js';
import { runSnippet, spawnSnippet } from '../helpers/child.js';
import { exists, waitFor, watchdogPids } from '../helpers/shm.js';

const create = (scope: string) => `
  const a = nd.SharedNDArray.from([1, 2, 3], { scope: ${scope} });
  send({ handle: a.handle, pid: process.pid });
  if ((await next()) === 'exit') return;
  await new Promise(() => setInterval(() => {}, 1000));
`;

describe('scope \'local\' (the default)', () => {
  it('the array disappears within 2 s of its owner\'s kill -9', async () => {
    const child = spawnSnippet(create("'local'"));
    const { handle } = await child.message<{ handle: SharedNDArrayHandle }>();
    assert.ok(exists(handle.name));
    child.process.kill('SIGKILL');
    await waitFor(() => !exists(handle.name), 2000, 'the array to disappear');
  });

  it('a reader\'s release or exit never removes the owner\'s array', async () => {
    const a = SharedNDArray.from([1, 2, 3]);
    for (const end of ['r.release();', '', 'process.exit(0);', 'process.kill(process.pid, "SIGKILL");']) {
      await runSnippet(`const r = nd.SharedNDArray.open(args[0]); send({ v: r.get(1) }); ${end}`, [a.name!]);
      assert.ok(exists(a.name!), `removed by a reader ending with ${end || 'return'}`);
    }
    const r = SharedNDArray.open(a.handle);
    r.release();
    assert.ok(exists(a.name!));
    a.release();
    assert.ok(!exists(a.name!));
  });
});

describe('scope \'remote\'', () => {
  it('passes to the process that opens the handle, even after the creator has exited', async () => {
    const child = spawnSnippet(create("'remote'"));
    const { handle, pid } = await child.message<{ handle: SharedNDArrayHandle; pid: number }>();
    child.send('exit');
    await child.exited;
    await new Promise((r) => setTimeout(r, 200)); // the creator is gone; the array waits to be adopted
    const mine = SharedNDArray.open(handle);
    assert.equal(mine.scope, 'local');
    assert.deepEqual(mine.toArray(), [1, 2, 3]);
    await waitFor(() => watchdogPids(pid).length === 0, 7000, 'the creator\'s watchdog to notice the adoption');
    assert.ok(exists(handle.name), 'the creator\'s watchdog removed an adopted array');
    const second = SharedNDArray.open(handle); // a second open in the new owner just attaches
    second.release();
    assert.ok(exists(handle.name));
    mine.release();
    assert.ok(!exists(handle.name), 'the new owner removes it');
  });

  it('is removed after a grace period when nobody adopts it', async () => {
    const child = spawnSnippet(create("'remote'"), [], { env: { NDSHM_REMOTE_GRACE_MS: '300' } });
    const { handle } = await child.message<{ handle: SharedNDArrayHandle }>();
    child.send('exit');
    await child.exited;
    assert.ok(exists(handle.name), 'kept for the grace period');
    await waitFor(() => !exists(handle.name), 3000, 'the unadopted array to be removed');
  });
});

describe('scope null', () => {
  it('outlives its creator (even kill -9) until an explicit release by its owner, or an unlink', async () => {
    const child = spawnSnippet(create('null'));
    const { handle } = await child.message<{ handle: SharedNDArrayHandle }>();
    child.process.kill('SIGKILL');
    await child.exited;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(exists(handle.name));
    assert.deepEqual(gc().filter((e) => e.name === handle.name), [], 'gc leaves persistent arrays alone');
    const r = SharedNDArray.open(handle);
    assert.equal(r.scope, null);
    r.release(); // not its owner: only closes
    assert.ok(exists(handle.name));
    Segment.unlink(handle.name);
  });

  it('its creator\'s release removes it', () => {
    const a = SharedNDArray.zeros(3, 'float64', { scope: null });
    a.release();
    assert.ok(!exists(a.name!));
  });
});

describe('SharedMemoryManager', () => {
  it('shutdown removes what it made, whatever the scope, and closes what it opened', () => {
    const other = SharedNDArray.zeros(2);
    const m = new SharedMemoryManager();
    const made = [m.zeros(4), m.from([1, 2], { scope: 'remote' }), m.full([2], 1, 'int8', { scope: null })];
    const opened = m.open(other.handle);
    assert.equal(m.size, 4);
    const names = made.map((a) => a.name!);
    m.shutdown();
    assert.deepEqual(names.filter(exists), []);
    assert.equal(opened.released, true);
    assert.ok(exists(other.name!));
    assert.throws(() => m.zeros(1), /shut down/);
    m.shutdown();
    other.release();
  });

  it('works with using', () => {
    let name: string;
    {
      using m = new SharedMemoryManager();
      name = m.zeros([2, 2]).name!;
      assert.ok(exists(name));
    }
    assert.ok(!exists(name));
  });
});

describe('gc', () => {
  it('removes arrays whose owner died with its watchdog; dryRun only reports', async () => {
    const child = spawnSnippet(create("'local'"));
    const { handle, pid } = await child.message<{ handle: SharedNDArrayHandle; pid: number }>();
    for (const w of watchdogPids(pid)) process.kill(w, 'SIGKILL'); // as a container stop would
    child.process.kill('SIGKILL');
    await child.exited;
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(exists(handle.name), 'nothing removed it yet');
    const dry = gc({ dryRun: true }).find((e) => e.name === handle.name);
    assert.deepEqual(dry && { removed: dry.removed, ownerPid: dry.ownerPid }, { removed: false, ownerPid: pid });
    assert.ok(exists(handle.name));
    const done = gc().find((e) => e.name === handle.name);
    assert.equal(done?.removed, true);
    assert.ok(!exists(handle.name));
  });

  it('leaves live owners\' arrays and non-ndshm segments alone', () => {
    const a = SharedNDArray.zeros(2);
    const raw = Segment.create(`raw-${process.pid}`, 256);
    const entries = gc();
    assert.ok(!entries.some((e) => e.name === a.name || e.name === raw.name));
    assert.ok(exists(a.name!) && exists(raw.name));
    a.release();
    raw.close();
    raw.unlink();
  });
});

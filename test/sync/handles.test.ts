// Handles and segments are untrusted: forged or corrupt ones give EINVAL, ENOENT or EBADHEADER, never a
// crash or a hang.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';

import { Barrier, Counter, Mutex, Segment, type SyncHandle } from '../../src/index.js';
import { errorCode } from '../helpers/errors.js';
import { uniqueName } from '../helpers/shm.js';
import { rejectionCode } from './util.js';

const made: string[] = [];
after(() => {
  for (const n of made) {
    try {
      Segment.unlink(n);
    } catch {
      // gone
    }
  }
});

/** A copy of `original`'s segment under a new name, changed by `mutate`; returns its handle. */
function forge(original: { handle: SyncHandle; name: string }, mutate: (bytes: Uint8Array, view: DataView) => void, size?: number): SyncHandle {
  const src = Segment.open(original.name);
  const name = uniqueName('forged');
  const copy = Segment.create(name, size ?? src.byteLength);
  made.push(name);
  const bytes = new Uint8Array(copy.buffer);
  bytes.set(new Uint8Array(src.buffer).subarray(0, bytes.length));
  mutate(bytes, new DataView(copy.buffer));
  src.close();
  copy.close();
  return { ...original.handle, name };
}

describe('sync handles and segments are untrusted', () => {
  const m = Mutex.create();
  const c = Counter.create({ printEvery: 5, message: 'x {}' });
  const b = Barrier.create(2, { member: false });
  after(() => {
    m.close();
    c.close();
    b.close();
  });

  it('malformed handles are EINVAL', () => {
    const bad: unknown[] = [
      undefined,
      null,
      5,
      'nds-x',
      [],
      { ...m.handle, ndshm: 2 },
      { ...m.handle, kind: 'counter' },
      { ...m.handle, kind: 'semaphore' },
      { ...m.handle, name: 5 },
      { ...m.handle, name: '../etc/passwd' },
      { ...m.handle, name: 'a'.repeat(31) },
      { ...m.handle, name: '' },
      { ...m.handle, id: 'xyz' },
      { ...m.handle, id: '0000000000000000' },
      { ...m.handle, id: m.handle.id.toUpperCase().replace(/^./, 'A') },
      { ...m.handle, id: 12 },
      { ndshm: 1, kind: 'mutex' },
    ];
    for (const h of bad) assert.equal(errorCode(() => Mutex.open(h as SyncHandle)), 'EINVAL', JSON.stringify(h) ?? String(h));
    assert.equal(errorCode(() => Counter.open(m.handle)), 'EINVAL');
    assert.equal(errorCode(() => Barrier.open(c.handle)), 'EINVAL');
  });

  it('a handle to nothing, or to a later object of the same name, is ENOENT; extra fields are ignored', () => {
    assert.equal(errorCode(() => Mutex.open({ ...m.handle, name: uniqueName('absent') })), 'ENOENT');
    const other = m.handle.id === '0123456789abcdef' ? 'fedcba9876543210' : '0123456789abcdef';
    assert.equal(errorCode(() => Mutex.open({ ...m.handle, id: other })), 'ENOENT');
    const extra = Mutex.open({ ...m.handle, comment: 'hi' } as SyncHandle);
    extra.close();
  });

  it('segments that are not sync objects, or are corrupt, are EBADHEADER', () => {
    const cases: [string, SyncHandle, (h: SyncHandle) => unknown][] = [
      ['all zero', forge(m, (bytes) => bytes.fill(0)), Mutex.open],
      ['10 bytes', forge(m, () => {}, 10), Mutex.open],
      ['header only', forge(m, () => {}, 128), Mutex.open],
      ['version 2', forge(m, (_b, v) => v.setUint16(8, 2, true)), Mutex.open],
      ['header length 64', forge(m, (_b, v) => v.setUint16(10, 64, true)), Mutex.open],
      ['kind says counter', forge(m, (_b, v) => v.setUint32(12, 2, true)), Mutex.open],
      ['kind 9', forge(m, (_b, v) => v.setUint32(12, 9, true)), Mutex.open],
      ['lock flavour 2 (musl?)', forge(m, (_b, v) => v.setUint32(20, 2, true)), Mutex.open],
      ['body offset 64', forge(m, (_b, v) => v.setUint32(24, 64, true)), Mutex.open],
      ['body past the end', forge(m, (_b, v) => v.setUint32(28, 0xffffffff, true)), Mutex.open],
      ['mutex body too short', forge(m, (_b, v) => v.setUint32(28, 8, true)), Mutex.open],
      ['mutex of another kind (a PI mutex, say)', forge(m, (_b, v) => v.setInt32(128 + 16, 0x20 | 0x80, true)), Mutex.open],
      ['counter message too long', forge(c, (_b, v) => v.setUint32(208, 5000, true)), Counter.open],
      ['counter message past its body', forge(c, (_b, v) => v.setUint32(208, 500, true)), Counter.open],
      ['counter printEvery negative', forge(c, (_b, v) => v.setBigInt64(200, -5n, true)), Counter.open],
      ['barrier parties 0', forge(b, (_b, v) => v.setUint32(132, 0, true)), Barrier.open],
      ['barrier 70000 slots', forge(b, (_b, v) => v.setUint32(136, 70000, true)), Barrier.open],
      ['barrier slots past its body', forge(b, (_b, v) => v.setUint32(136, 100, true)), Barrier.open],
      ['barrier slot mutex corrupt', forge(b, (_b, v) => { for (let k = 0; k < 10; k++) v.setInt32(192 + 64 * k + 16, 0, true); }), Barrier.open],
    ];
    for (const [what, handle, open] of cases) assert.equal(errorCode(() => open(handle)), 'EBADHEADER', what);
  });

  it('random header bytes never crash or hang an open', () => {
    const codes = new Set<string>();
    for (let k = 0; k < 200; k++) {
      const noise = randomBytes(120);
      const at = 8 + (k % 8) * 15;
      const handle = forge(m, (bytes) => bytes.set(noise.subarray(0, 15), at));
      const code = errorCode(() => {
        const x = Mutex.open(handle);
        try {
          if (x.tryLock()) x.unlock();
        } finally {
          x.close();
        }
      });
      codes.add(code);
      Segment.unlink(handle.name);
      made.splice(made.indexOf(handle.name), 1);
    }
    for (const code of codes) assert.ok(['EBADHEADER', 'ENOENT', 'no error'].includes(code), code);
  });

  it('a mutex corrupted after it was opened is EBADHEADER at the next lock, sync or async', async () => {
    const victim = Mutex.create();
    const raw = Segment.open(victim.name);
    new DataView(raw.buffer).setInt32(128 + 16, 0, true);
    assert.equal(errorCode(() => victim.lockSync()), 'EBADHEADER');
    assert.equal(errorCode(() => victim.tryLock()), 'EBADHEADER');
    assert.equal(await rejectionCode(victim.lock()), 'EBADHEADER');
    raw.close();
    victim.close();
  });

  it('a barrier word with impossible arrivals passes instead of hanging', async () => {
    const barrier = Barrier.create(2);
    const raw = Segment.open(barrier.name);
    new DataView(raw.buffer).setUint32(128, 0x0000ffff, true); // 65535 arrived
    assert.equal(barrier.waitSync({ timeoutMs: 1000 }), 1);
    raw.close();
    barrier.close();
  });
});

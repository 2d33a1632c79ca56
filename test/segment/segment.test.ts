import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, describe, it } from 'node:test';

import { Segment, isNdshmError } from '../../src/index.js';
import { exists, removeSegments, uniqueName } from '../helpers/shm.js';
import { errorCode } from '../helpers/errors.js';

const made: string[] = [];
const name = (tag: string): string => {
  const n = uniqueName(tag);
  made.push(n);
  return n;
};
after(() => {
  const left = made.filter(exists);
  removeSegments(left);
  assert.deepEqual(left, [], 'segments left behind by this file');
});


describe('Segment.create', () => {
  it('maps zero-filled memory of exactly the size asked, mode 0600', () => {
    const n = name('create');
    const s = Segment.create(n, 10_000);
    assert.equal(s.byteLength, 10_000);
    assert.equal(s.buffer.byteLength, 10_000);
    assert.ok(new Uint8Array(s.buffer).every((b) => b === 0));
    const st = statSync(`/dev/shm/${n}`);
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.size, 10_000);
    assert.equal(s.created, true);
    assert.equal(s.readOnly, false);
    s.close();
    s.unlink();
  });

  it('applies the mode exactly, whatever the umask', () => {
    const n = name('mode');
    const old = process.umask(0o077);
    try {
      const s = Segment.create(n, 64, { mode: 0o640 });
      assert.equal(statSync(`/dev/shm/${n}`).mode & 0o777, 0o640);
      s.close();
      s.unlink();
    } finally {
      process.umask(old);
    }
  });

  it('refuses an existing name with EEXIST and leaves it untouched', () => {
    const n = name('exists');
    const s = Segment.create(n, 16);
    new Uint8Array(s.buffer)[0] = 42;
    assert.equal(errorCode(() => Segment.create(n, 32)), 'EEXIST');
    assert.equal(statSync(`/dev/shm/${n}`).size, 16);
    assert.equal(new Uint8Array(s.buffer)[0], 42);
    s.close();
    s.unlink();
  });

  it('allows zero-size segments', () => {
    const n = name('zero');
    const s = Segment.create(n, 0);
    assert.equal(s.byteLength, 0);
    assert.equal(s.buffer.byteLength, 0);
    const o = Segment.open(n);
    assert.equal(o.byteLength, 0);
    o.close();
    s.close();
    assert.equal(errorCode(() => s.buffer), 'ECLOSED');
    s.unlink();
  });

  it('rejects bad sizes, modes and misspelled options with EINVAL', () => {
    const n = name('bad');
    assert.equal(errorCode(() => Segment.create(n, -1)), 'EINVAL');
    assert.equal(errorCode(() => Segment.create(n, 1.5)), 'EINVAL');
    assert.equal(errorCode(() => Segment.create(n, Number.NaN)), 'EINVAL');
    assert.equal(errorCode(() => Segment.create(n, '8' as unknown as number)), 'EINVAL');
    assert.equal(errorCode(() => Segment.create(n, 8, { mode: 0o1777 })), 'EINVAL');
    assert.equal(errorCode(() => Segment.create(n, 8, { persistant: true } as never)), 'EINVAL');
    assert.equal(errorCode(() => Segment.open(n, { readonly: true } as never)), 'EINVAL');
    assert.equal(exists(n), false);
  });

  // Node 22+ has no 4 GiB limit: the only way to check it there would be to map the memory.
  const major = Number(process.versions.node.split('.')[0]);
  const noLimit = major >= 22 ? `Node ${process.versions.node} has no 4 GiB ArrayBuffer limit to hit (checking it would map 4 GiB)` : false;
  it('says which Node lifts the mapping limit for sizes past it', { skip: noLimit }, () => {
    const limit = 2 ** 32;
    try {
      Segment.create(name('big'), limit + 1);
      assert.fail('expected ETOOBIG');
    } catch (err) {
      assert.ok(isNdshmError(err, 'ETOOBIG'));
      assert.match(err.message, /Node 22/);
    }
  });
});

describe('segment names', () => {
  /** Creates `n`, checks it is there under exactly that name, and removes it again. */
  function createsAndRemoves(n: string): void {
    const s = Segment.create(n, 1);
    try {
      assert.equal(s.name, n);
      assert.equal(statSync(`/dev/shm/${n}`).size, 1, n);
    } finally {
      s.close();
      s.unlink();
    }
    assert.equal(exists(n), false, n);
  }

  it('accepts 1 to 30 characters from [A-Za-z0-9._-]', () => {
    // A one-character name cannot be unique to this run, and /dev/shm is shared: take the first one
    // nobody holds. create is exclusive, so one taken meanwhile is EEXIST and we try the next.
    const chars = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'];
    const one = chars.find((c) => {
      if (exists(c)) return false;
      try {
        createsAndRemoves(c);
        return true;
      } catch (err) {
        if (isNdshmError(err, 'EEXIST')) return false;
        throw err;
      }
    });
    assert.ok(one !== undefined, 'every one-character name is taken in /dev/shm');
    const thirty = uniqueName('n').padEnd(30, 'z');
    const every = uniqueName('A.b_c-9'); // every kind of character the rule allows
    const dots = `..${uniqueName('d')}`; // dots are fine when they are not all there is
    assert.equal(thirty.length, 30);
    assert.match(every, /[A-Z]/);
    for (const n of [thirty, every, dots]) {
      made.push(n);
      createsAndRemoves(n);
    }
  });

  it('rejects other names with EINVAL and says the rule', () => {
    for (const bad of ['', 'x'.repeat(31), '/lead', 'a/b', '..', '.', 'sp ace', 'ümlaut', 'tab\t', 7, null]) {
      try {
        Segment.create(bad as string, 1);
        assert.fail(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        assert.ok(isNdshmError(err, 'EINVAL'), String(err));
        assert.match(err.message, /1 to 30 characters from \[A-Za-z0-9\._-\]/);
      }
    }
  });
});

describe('Segment.open', () => {
  it('sees the bytes another handle wrote, and takes its size from the object', () => {
    const n = name('open');
    const s = Segment.create(n, 4096);
    new Float64Array(s.buffer)[3] = 3.25;
    const o = Segment.open(n);
    assert.equal(o.byteLength, 4096);
    assert.equal(new Float64Array(o.buffer)[3], 3.25);
    new Float64Array(o.buffer)[4] = -1;
    assert.equal(new Float64Array(s.buffer)[4], -1);
    assert.equal(o.created, false);
    o.close();
    s.close();
    s.unlink();
  });

  it('fails with ENOENT for a missing name', () => {
    assert.equal(errorCode(() => Segment.open(name('missing'))), 'ENOENT');
  });

  it('readOnly: reads shared bytes, and a write through its typed arrays never reaches them', () => {
    const n = name('ro');
    const page = 4096;
    const s = Segment.create(n, 3 * page);
    const shared = new Uint8Array(s.buffer);
    shared[0] = 1;
    const ro = Segment.open(n, { readOnly: true });
    assert.equal(ro.readOnly, true);
    const view = new Uint8Array(ro.buffer);
    assert.equal(view[0], 1);
    view[0] = 99; // copies the first page privately; the shared object is untouched
    assert.equal(shared[0], 1);
    shared[2 * page] = 7; // pages this process never wrote keep following the shared object
    assert.equal(view[2 * page], 7);
    shared[1] = 8; // the privately copied page does not (docs/api.md says so)
    assert.equal(view[1], 0);
    ro.close();
    s.close();
    s.unlink();
  });
});

describe('close and unlink', () => {
  it('close detaches every view: they read as length 0, the process lives, the handle throws ECLOSED', () => {
    const n = name('close');
    const s = Segment.create(n, 1 << 20);
    const f64 = new Float64Array(s.buffer);
    const u8 = new Uint8Array(s.buffer, 100, 10);
    f64[0] = 5;
    s.close();
    assert.equal(f64.length, 0);
    assert.equal(u8.length, 0);
    assert.equal(f64[0], undefined);
    assert.throws(() => f64.fill(1), TypeError);
    assert.equal(s.closed, true);
    assert.equal(errorCode(() => s.buffer), 'ECLOSED');
    assert.equal(errorCode(() => s.check()), 'ECLOSED');
    s.close(); // harmless
    assert.equal(exists(n), true, 'close keeps the name');
    s.unlink();
    assert.equal(exists(n), false);
  });

  it('unlink removes the name while mappings stay valid', () => {
    const n = name('unlink');
    const s = Segment.create(n, 64);
    const o = Segment.open(n);
    s.unlink();
    assert.equal(exists(n), false);
    new Uint8Array(s.buffer)[0] = 9;
    assert.equal(new Uint8Array(o.buffer)[0], 9);
    assert.equal(errorCode(() => Segment.open(n)), 'ENOENT');
    assert.equal(errorCode(() => s.unlink()), 'ENOENT');
    assert.equal(errorCode(() => Segment.unlink(n)), 'ENOENT');
    o.close();
    s.close();
  });

  it('unlink through a handle never removes a newer object of the same name', () => {
    const n = name('reuse');
    const first = Segment.create(n, 8);
    Segment.unlink(n);
    const second = Segment.create(n, 8);
    assert.equal(errorCode(() => first.unlink()), 'ENOENT');
    assert.equal(exists(n), true);
    first.close();
    second.close();
    second.unlink();
  });

  it('works with using', () => {
    const n = name('using');
    let view: Uint8Array;
    {
      using s = Segment.create(n, 16);
      view = new Uint8Array(s.buffer);
      assert.equal(view.length, 16);
    }
    assert.equal(view.length, 0);
    Segment.unlink(n);
  });
});

describe('Segment.list', () => {
  it('lists this user\'s segments with size, mode and uid', () => {
    const n = name('list');
    const s = Segment.create(n, 123, { mode: 0o600 });
    const entry = Segment.list().find((e) => e.name === n);
    assert.ok(entry);
    assert.equal(entry.size, 123);
    assert.equal(entry.mode, 0o600);
    assert.equal(entry.uid, process.getuid!());
    assert.equal(entry.ino, s.inode);
    s.close();
    s.unlink();
    assert.equal(Segment.list().find((e) => e.name === n), undefined);
  });
});

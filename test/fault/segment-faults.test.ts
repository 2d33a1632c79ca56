import assert from 'node:assert/strict';
import { statSync, truncateSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

import { Segment, SharedNDArray, createSharedMemoryRegion, destroySharedMemoryRegion, getContentsAsArray } from '../../src/index.js';
import { runSnippet, spawnSnippet } from '../helpers/child.js';
import { tinyShm } from '../helpers/namespace.js';
import { exists, uniqueName } from '../helpers/shm.js';
import { errorCode } from '../helpers/errors.js';


describe('a full /dev/shm', () => {
  const prefix = tinyShm('1m');
  const skip = typeof prefix === 'string' ? prefix : false;

  it('is ENOSPC at create time, with nothing left behind', { skip }, async () => {
    const r = await runSnippet(
      `const a = nd.Segment.create('fits', 512 * 1024);
       let code;
       try { nd.Segment.create('too-big', 2 * 1024 * 1024); } catch (e) { code = e.code; send({ message: e.message }); }
       send({ code, names: nd.Segment.list().map((s) => s.name) });
       // every page of what was created is really there: writing all of it cannot fault
       new Uint8Array(a.buffer).fill(7);
       send({ filled: new Uint8Array(a.buffer).every((b) => b === 7) });`,
      [],
      { command: prefix as string[] },
    );
    assert.equal(r.code, 0, r.stderr);
    const last = r.messages.at(-2) as { code: string; names: string[] };
    assert.equal(last.code, 'ENOSPC');
    assert.deepEqual(last.names, ['fits']);
    assert.match(String(r.messages[0]?.['message']), /not enough shared memory.*free of/);
    assert.deepEqual(r.messages.at(-1), { filled: true });
  });

  it('filled segment by segment: every create either succeeds in full or fails ENOSPC', { skip }, async () => {
    const r = await runSnippet(
      `const made = [];
       for (let i = 0; ; i++) {
         try { made.push(nd.Segment.create('s' + i, 100 * 1024)); }
         catch (e) { send({ made: made.length, code: e.code }); break; }
       }
       for (const s of made) new Uint8Array(s.buffer).fill(1); // no SIGBUS: the space was reserved
       send({ touched: made.length });`,
      [],
      { command: prefix as string[] },
    );
    assert.equal(r.code, 0, r.stderr);
    const [first, second] = r.messages as [{ made: number; code: string }, { touched: number }];
    assert.equal(first.code, 'ENOSPC');
    assert.ok(first.made >= 5 && first.made <= 10, `made ${first.made}`);
    assert.equal(second.touched, first.made);
  });

  it('a segment made elsewhere without reserving space faults when written past the free space: EIO, not SIGBUS', { skip }, async () => {
    const r = await runSnippet(
      `const fs = await import('node:fs');
       const fd = fs.openSync('/dev/shm/sparse', 'w', 0o600);
       fs.ftruncateSync(fd, 4 * 1024 * 1024);   // what CPython's SharedMemory does: no space reserved
       fs.closeSync(fd);
       const s = nd.Segment.open('sparse');
       new Uint8Array(s.buffer).fill(1);         // runs out of tmpfs pages after 1 MiB
       try { s.buffer; send({ code: 'none' }); } catch (e) { send({ code: e.code, message: e.message }); }`,
      [],
      { command: prefix as string[] },
    );
    assert.equal(r.signal, null, `killed by ${r.signal}`);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.messages[0]?.['code'], 'EIO');
  });
});

describe('a segment truncated under a mapping', () => {
  it('in this process: the next checked access is ETRUNCATED, an unchecked one reads zeros', () => {
    const n = uniqueName('trunc');
    const s = Segment.create(n, 16 * 4096);
    const view = new Uint8Array(s.buffer);
    view.fill(5);
    truncateSync(`/dev/shm/${n}`, 4096);
    assert.equal(errorCode(() => s.check()), 'ETRUNCATED');
    assert.equal(view[0], 5, 'bytes before the new end are intact');
    assert.equal(view[10 * 4096], 0, 'bytes past it read as zero instead of raising SIGBUS');
    view[12 * 4096] = 1; // a write past it goes nowhere, without a fault
    assert.equal(errorCode(() => s.buffer), 'ETRUNCATED');
    s.close();
    s.unlink();
  });

  it('an owned array whose mapping caught the fault is still released and removed', () => {
    const a = SharedNDArray.zeros([16 * 512], 'float64');
    const name = a.name!;
    const data = a.data as Float64Array;
    truncateSync(`/dev/shm/${name}`, 0); // header and data gone under the mapping
    assert.equal(data[8 * 512], 0, 'read as zero instead of raising SIGBUS (the fault is recorded)');
    assert.equal(errorCode(() => a.get(0)), 'ETRUNCATED');
    a.release(); // must not throw: the header cannot be read any more, the array is still this thread's
    assert.ok(a.released);
    assert.equal(exists(name), false, 'removed');
  });

  it('by another process: the reader gets ETRUNCATED and lives on; regions report it too', async () => {
    const key = uniqueName('truncx');
    const region = createSharedMemoryRegion('r', `/${key}`, 8 * 4096);
    const child = spawnSnippet(
      `const r = nd.createSharedMemoryRegion('r', args[0], 8 * 4096);
       const view = nd.getContentsAsArray(r, 'uint8', [8 * 4096]);
       send({ ready: view[0] });
       await next();
       const out = { touched: view[7 * 4096] };
       try { nd.getContentsAsArray(r, 'uint8', [10]); } catch (e) { out.region = e.code; out.name = e.name; }
       nd.destroySharedMemoryRegion(r);
       send(out);`,
      [`/${key}`],
    );
    assert.deepEqual(await child.message(), { ready: 0 });
    truncateSync(`/dev/shm/${key}`, 4096);
    child.send('go');
    assert.deepEqual(await child.message(), { touched: 0, region: 'ETRUNCATED', name: 'SharedMemoryException' });
    const end = await child.exited;
    assert.equal(end.signal, null);
    assert.equal(end.code, 0, end.stderr);
    assert.equal(errorCode(() => getContentsAsArray(region, 'uint8', [1])), 'ETRUNCATED');
    destroySharedMemoryRegion(region);
    assert.equal(exists(key), false);
  });
});

/** Why a process of another user could not run `path` (a directory on the way is closed to others). */
function closedToOthers(path: string): string | undefined {
  let dir = path;
  for (;;) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0 && (dir !== path || (mode & 0o004) === 0)) return `${dir} is closed to other users`;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

describe('permissions', () => {
  const asRoot = process.getuid!() === 0;
  const reach = asRoot ? (closedToOthers(process.execPath) ?? closedToOthers(fileURLToPath(new URL('../children/snippet.js', import.meta.url)))) : undefined;
  if (reach !== undefined) console.log(`# the other-user case of the EACCES test is skipped: ${reach}`);
  it('EACCES for a segment another user may not open', { skip: reach ?? false }, async () => {
    const n = uniqueName('perm');
    if (process.getuid!() === 0) {
      // Root ignores mode bits: ask as another user.
      const s = Segment.create(n, 64, { mode: 0o600 });
      const r = await runSnippet(
        `try { nd.Segment.open(args[0]); send({ code: 'none' }); } catch (e) { send({ code: e.code, syscall: e.syscall }); }`,
        [n],
        { uid: 65534, gid: 65534 },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.messages, [{ code: 'EACCES', syscall: 'shm_open' }]);
      s.close();
      s.unlink();
    } else {
      const s = Segment.create(n, 64, { mode: 0o400 });
      assert.equal(errorCode(() => Segment.open(n)), 'EACCES');
      const ro = Segment.open(n, { readOnly: true });
      ro.close();
      s.close();
      s.unlink();
    }
  });
});

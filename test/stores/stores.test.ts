import assert from 'node:assert/strict';
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { crc32 } from 'node:zlib';

import { NdshmError, type StoreLeaf, type StoreTree, arraysToShm, gc, listStores, releaseArrays, shmToArrays, unlink, unlinkedArraysToShm } from '../../src/index.js';
import { runSnippet, spawnSnippet } from '../helpers/child.js';
import { exists, shmNames, uniqueName, waitFor } from '../helpers/shm.js';
import { errorCode } from '../helpers/errors.js';
import { plain } from '../helpers/plain.js';

const made = new Set<string>();
const store = (tag: string): string => {
  const n = uniqueName(tag).slice(0, 24);
  made.add(n);
  return n;
};
after(() => {
  for (const n of made) {
    try {
      unlink(n);
    } catch {
      // removed by the test
    }
  }
  assert.deepEqual(shmNames().filter((n) => [...made].some((m) => n === `store.${m}`)), [], 'manifests left');
});


const leaf = (t: StoreTree, ...path: string[]): StoreLeaf => path.reduce<unknown>((n, k) => (n as StoreTree)[k], t) as StoreLeaf;

describe('arraysToShm and shmToArrays', () => {
  it('round-trip a nested store with every dtype, shapes, attributes, also in an unrelated process', async () => {
    const name = store('round');
    const arrays = {
      f64: new Float64Array([1.5, -2, 3]),
      groups: {
        deeper: { i64: [[1n, -2n], [3n, 4n]], bools: [true, false, true] },
        c128: { data: [[1, 2], [3, 4]], attrs: { note: 'complex from pairs? no: a 2x2 float64' } },
      },
      zero: { data: new Float32Array(0), attrs: { empty: true } },
      scalar: 42,
      be: { data: new Int32Array([1, 2, 3, 4]), attrs: { n: 1, s: 'text', big: 2n ** 70n, bytes: new Uint8Array([0, 255]), f: new Float32Array([0.5, 1.5]), nan: Number.NaN, list: [1, 'two', [3]], nested: { x: null } } },
    };
    const written = arraysToShm(name, arrays, { attrs: { source: 'test', version: 3 } });
    assert.deepEqual({ arrays: written.arrays, persistent: written.persistent, format: written.format }, { arrays: 7, persistent: false, format: 'ndshm' });
    const t = shmToArrays(name);
    assert.deepEqual(leaf(t, 'f64').data.toArray(), [1.5, -2, 3]);
    assert.deepEqual(leaf(t, 'groups', 'deeper', 'i64').data.toArray(), [[1n, -2n], [3n, 4n]]);
    assert.equal(leaf(t, 'groups', 'deeper', 'i64').meta.dtype, 'int64');
    assert.deepEqual(leaf(t, 'groups', 'deeper', 'bools').data.toArray(), [true, false, true]);
    assert.deepEqual(plain(leaf(t, 'zero').meta), { shape: [0], dtype: 'float32', attrs: { empty: true }, segment: leaf(t, 'zero').meta.segment });
    assert.equal(leaf(t, 'scalar').data.get(), 42);
    assert.deepEqual(leaf(t, 'scalar').meta.shape, []);
    const attrs = leaf(t, 'be').meta.attrs;
    assert.equal(attrs['big'], 2n ** 70n);
    assert.deepEqual(attrs['bytes'], new Uint8Array([0, 255]));
    assert.deepEqual(attrs['f'], new Float32Array([0.5, 1.5]));
    assert.ok(Number.isNaN(attrs['nan']));
    assert.deepEqual(attrs['list'], [1, 'two', [3]]);
    assert.deepEqual(plain(attrs['nested']), { x: null });
    releaseArrays(t);
    const r = await runSnippet(
      `const t = nd.shmToArrays(args[0]);
       send({ f64: t.f64.data.toArray(), bools: t.groups.deeper.bools.data.toArray(), s: t.be.meta.attrs.s });
       nd.releaseArrays(t);`,
      [name],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.messages, [{ f64: [1.5, -2, 3], bools: [true, false, true], s: 'text' }]);
    assert.ok(exists(`store.${name}`), 'a reader never removes a store');
  });

  it('a persistent store outlives its writer; a non-persistent one goes with it, even by kill -9', async () => {
    const kept = store('kept');
    const gone = store('gone');
    const w = await runSnippet(`nd.arraysToShm(args[0], { a: [1, 2, 3] }, { persistent: true }); send({ ok: 1 });`, [kept]);
    assert.equal(w.code, 0, w.stderr);
    const t = shmToArrays(kept);
    assert.deepEqual(leaf(t, 'a').data.toArray(), [1, 2, 3]);
    releaseArrays(t);
    const child = spawnSnippet(`const s = nd.arraysToShm(args[0], { a: new Float64Array(1 << 18), b: [1] }); send({ ok: 1 }); await next();`, [gone]);
    await child.message();
    const segs = listStores().find((s) => s.name === gone)!.arrays.map((a) => a.segment);
    child.process.kill('SIGKILL');
    await waitFor(() => !exists(`store.${gone}`) && segs.every((s) => !exists(s)), 2000, 'the store to go with its writer');
  });

  it('an existing store is EEXIST and left untouched; overwrite replaces it, and old arrays stay valid', () => {
    const name = store('over');
    arraysToShm(name, { a: [1, 2] });
    const before = shmToArrays(name);
    assert.equal(errorCode(() => arraysToShm(name, { b: [9] })), 'EEXIST');
    assert.deepEqual(Object.keys(shmToArrays(name)), ['a']);
    arraysToShm(name, { b: [7, 8, 9] }, { overwrite: true });
    const now = shmToArrays(name);
    assert.deepEqual(Object.keys(now), ['b']);
    assert.deepEqual(leaf(before, 'a').data.toArray(), [1, 2], 'a reader of the old store keeps valid data');
    releaseArrays(before);
    releaseArrays(now);
  });

  it('publication is atomic: a reader sees no store or a complete one while a writer overwrites it', async () => {
    const name = store('atomic');
    const writer = spawnSnippet(
      `for (let g = 1; g <= 40; g++) {
         const arrays = {};
         for (let i = 0; i < 20; i++) arrays['k' + i] = new Float64Array(2048).fill(g);
         nd.arraysToShm(args[0], arrays, { overwrite: true });
       }
       send({ done: 1 });`,
      [name],
    );
    let seen = 0;
    let done = false;
    void writer.message().then(() => (done = true));
    while (!done) {
      let t: StoreTree;
      try {
        t = shmToArrays(name);
      } catch (err) {
        assert.ok(err instanceof NdshmError && err.code === 'ENOENT', String(err));
        await new Promise((r) => setImmediate(r));
        continue;
      }
      const gens = new Set(Object.values(t).map((l) => (l as StoreLeaf).data.get(2047)));
      assert.equal(Object.keys(t).length, 20, 'a partial store was visible');
      assert.equal(gens.size, 1, `arrays of one store from different writes: ${[...gens]}`);
      releaseArrays(t);
      seen++;
      await new Promise((r) => setImmediate(r));
    }
    assert.equal((await writer.exited).code, 0);
    assert.ok(seen > 0, 'the reader never saw the store');
  });

  it('a writer killed before publishing leaves no store, and nothing after gc', async () => {
    const name = store('killed');
    const builderUrl = new URL('../../src/stores/builder.js', import.meta.url).href;
    const dtypeUrl = new URL('../../src/dtype.js', import.meta.url).href;
    const child = spawnSnippet(
      `const { StoreBuilder } = await import(args[1]);
       const { dtype } = await import(args[2]);
       const b = new StoreBuilder(args[0], { persistent: args[3] === 'p' });
       b.add(['big'], [1 << 18], dtype('float64'));
       b.add(['small'], [4], dtype('int8'));
       const [big] = b.allocate();
       big.fill(1);
       send({ names: [big.name] });
       await next(); // killed here, before publish()`,
      [name, builderUrl, dtypeUrl, 'p'],
    );
    const { names } = await child.message<{ names: string[] }>();
    assert.ok(exists(names[0]!));
    child.process.kill('SIGKILL');
    await child.exited;
    assert.equal(errorCode(() => shmToArrays(name)), 'ENOENT');
    await waitFor(() => !exists(names[0]!), 2000, 'the unpublished segments to be reclaimed');
    gc();
    assert.equal(errorCode(() => shmToArrays(name)), 'ENOENT');
  });

  it('10,000 small arrays: a handful of segments, read back whole', () => {
    const name = store('many');
    const arrays: Record<string, Record<string, Int32Array>> = {};
    for (let g = 0; g < 100; g++) {
      const group: Record<string, Int32Array> = {};
      for (let i = 0; i < 100; i++) group[`a${i}`] = new Int32Array([g, i, g * i]);
      arrays[`g${g}`] = group;
    }
    const w = arraysToShm(name, arrays);
    assert.equal(w.arrays, 10_000);
    assert.ok(w.segments <= 2, `${w.segments} segments`);
    const t = shmToArrays(name);
    assert.deepEqual(leaf(t, 'g42', 'a17').data.toArray(), [42, 17, 42 * 17]);
    assert.deepEqual(leaf(t, 'g99', 'a99').data.toArray(), [99, 99, 9801]);
    releaseArrays(t);
  });

  it('views of a store\'s arrays keep their dtype (arrays in pack segments included)', () => {
    const name = store('views');
    arraysToShm(name, { x: new Float64Array([1, 2, 3, 4, 5, 6]), y: new Int16Array([7, 8, 9, 10]) });
    const t = shmToArrays(name);
    const x = leaf(t, 'x').data;
    assert.deepEqual(x.slice('1:3').toArray(), [2, 3]);
    assert.deepEqual(x.reshape(2, 3).T.toArray(), [[1, 4], [2, 5], [3, 6]]);
    assert.equal(x.reshape(3, 2).slice(':', 0).dtype.name, 'float64');
    assert.deepEqual(x.slice([5, 0]).toArray(), [6, 1]);
    assert.deepEqual(leaf(t, 'y').data.slice('::-1').toArray(), [10, 9, 8, 7]);
    releaseArrays(t);
  });

  it('readOnly, using, and key validation', () => {
    const name = store('ro');
    arraysToShm(name, { a: [1, 2] });
    {
      using t = shmToArrays(name, { readOnly: true }) as StoreTree & Disposable;
      assert.equal(errorCode(() => leaf(t, 'a').data.set(0, 5)), 'EROFS');
    }
    for (const bad of [{ '@x': [1] }, { '': [1] }, { a: 'text' }, { a: null }, [1, 2]]) {
      assert.equal(errorCode(() => arraysToShm(store('bad'), bad as object)), 'EINVAL');
    }
    assert.equal(errorCode(() => arraysToShm('x'.repeat(25), { a: [1] })), 'EINVAL');
    assert.equal(errorCode(() => arraysToShm(store('badopt'), { a: [1] }, { overwite: true } as never)), 'EINVAL');
    const scoped = store('scoped');
    {
      using s = unlinkedArraysToShm(scoped, { a: [1] });
      assert.ok(exists(`store.${s.name}`));
    }
    assert.equal(exists(`store.${scoped}`), false);
  });
});

describe('damaged stores', () => {
  it('corrupt or hostile manifests are EBADHEADER, never a crash', () => {
    const name = store('hostile');
    arraysToShm(name, { a: new Float64Array([1, 2, 3]) });
    const path = `/dev/shm/store.${name}`;
    const good = readFileSync(path);
    const json = JSON.parse(good.subarray(32).toString('utf8'));
    const rewrite = (mutate: (m: typeof json) => void): void => {
      const m = structuredClone(json);
      mutate(m);
      const body = Buffer.from(JSON.stringify(m));
      const out = Buffer.alloc(32 + body.length);
      good.copy(out, 0, 0, 32);
      out.writeUInt32LE(body.length, 12);
      out.writeUInt32LE(crc32(body), 16);
      body.copy(out, 32);
      writeFileSync(path, out);
    };
    const cases: [string, () => void][] = [
      ['bad magic', () => writeFileSync(path, Buffer.concat([Buffer.from('XXXXXXXX'), good.subarray(8)]))],
      ['checksum', () => writeFileSync(path, Buffer.concat([good.subarray(0, 40), Buffer.from('!'), good.subarray(41)]))],
      ['truncated', () => writeFileSync(path, good.subarray(0, 40))],
      ['segment index', () => rewrite((m) => (m.tree.a['@leaf'].segment = 7))],
      ['shape beyond the data', () => rewrite((m) => (m.tree.a['@leaf'].shape = [1000]))],
      ['stride beyond the data', () => rewrite((m) => (m.tree.a['@leaf'].strides = [1 << 30]))],
      ['negative offset', () => rewrite((m) => (m.tree.a['@leaf'].offset = -8))],
      ['unknown dtype', () => rewrite((m) => (m.tree.a['@leaf'].dtype = '<q9'))],
      ['segment name with a slash', () => rewrite((m) => (m.segments[0].name = '../etc'))],
      ['wrong store name', () => rewrite((m) => (m.name = 'other'))],
      ['a key starting with "@" (reserved for markers)', () => rewrite((m) => (m.tree = { '@a': m.tree.a }))],
      ['a group under a reserved key', () => rewrite((m) => (m.tree = { '@g': { a: m.tree.a } }))],
      ['a leaf with other keys beside "@leaf"', () => rewrite((m) => (m.tree.a.extra = {}))],
      ['a segment listed twice', () => rewrite((m) => m.segments.push(m.segments[0]))],
    ];
    for (const [what, damage] of cases) {
      damage();
      assert.equal(errorCode(() => shmToArrays(name)), 'EBADHEADER', what);
    }
    writeFileSync(path, good);
    releaseArrays(shmToArrays(name));
  });

  it('a store missing a segment is reported broken, and gc removes it', () => {
    const name = store('broken');
    arraysToShm(name, { a: new Float64Array(1 << 18), b: [1] }, { persistent: true });
    const info = listStores().find((s) => s.name === name)!;
    assert.equal(info.intact, true);
    const big = info.arrays.find((a) => a.path.join('/') === 'a')!.segment;
    unlinkSync(`/dev/shm/${big}`);
    assert.equal(listStores().find((s) => s.name === name)!.intact, false);
    assert.equal(errorCode(() => shmToArrays(name)), 'ENOENT');
    const dry = gc({ dryRun: true }).filter((e) => e.name === `store.${name}`);
    assert.equal(dry.length, 1);
    assert.ok(exists(`store.${name}`));
    gc();
    assert.equal(exists(`store.${name}`), false);
    assert.equal(listStores().some((s) => s.name === name), false);
  });

  it('a corrupt manifest is reported broken, and gc removes it (once)', () => {
    const name = store('corrupt');
    arraysToShm(name, { a: [1, 2] }, { persistent: true });
    const path = `/dev/shm/store.${name}`;
    const good = readFileSync(path);
    writeFileSync(path, Buffer.concat([good.subarray(0, 40), Buffer.from('!'), good.subarray(41)])); // checksum
    assert.equal(errorCode(() => shmToArrays(name)), 'EBADHEADER');
    const dry = gc({ dryRun: true }).filter((e) => e.name === `store.${name}`);
    assert.equal(dry.length, 1);
    assert.equal(dry[0]!.removed, false);
    const done = gc().filter((e) => e.name === `store.${name}`);
    assert.equal(done.length, 1);
    assert.equal(done[0]!.removed, true, done[0]!.reason);
    assert.equal(exists(`store.${name}`), false);
    assert.deepEqual(gc().filter((e) => e.name === `store.${name}`), []);
    gc(); // its segment, now listed by nothing, goes as an orphan
  });
});


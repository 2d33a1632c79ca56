// Hostile input, class by class (docs/safety.md, "Attacks and what stops them"): forged handles that
// claim an array, keys that reach Object.prototype, paths smuggled in through manifests, special files
// under segment names, other users' segments, sizes that overflow. Each case failed on the code
// before the hardening issue; the answer is an NdshmError or a clean result, never a removal of
// somebody else's memory, a polluted prototype, a hang or an abort.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

import {
  NdshmError,
  Segment,
  SharedMemoryManager,
  SharedNDArray,
  type SharedNDArrayHandle,
  type StoreLeaf,
  arraysToShm,
  createSharedMemoryRegion,
  gc,
  listStores,
  npzToShm,
  packArrays,
  releaseArrays,
  shmToArrays,
  unlink,
  unpackArrays,
} from '../../src/index.js';
import { encodeManifest } from '../../src/stores/manifest.js';
import { runSnippet, spawnSnippet } from '../helpers/child.js';
import { errorCode } from '../helpers/errors.js';
import { python, pythonMissing } from '../helpers/python.js';
import { exists, removeSegments, uniqueName, waitFor } from '../helpers/shm.js';

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const made: string[] = [];
const storeName = (tag: string): string => {
  const n = uniqueName(tag).slice(0, 24);
  made.push(n);
  return n;
};
const dir = mkdtempSync(`${tmpdir()}/ndshm-hostile-`);
after(() => {
  for (const s of made) {
    try {
      unlink(s);
    } catch {
      // removed by its test
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The owner tag and adoption offer in a segment's header, as anybody who can read it sees them. */
const headerWords = (name: string): { tag: string; offer: string } => {
  const bytes = readFileSync(`/dev/shm/${name}`).subarray(0, 128);
  return { tag: bytes.readBigUInt64LE(72).toString(), offer: bytes.readBigUInt64LE(104).toString() };
};

/** A child opens `handle` (forged) and then ends in each way; the array must still be there. */
async function forgeAndEnd(handle: SharedNDArrayHandle): Promise<void> {
  for (const end of ['', 'process.exit(0);', 'process.kill(process.pid, "SIGKILL");']) {
    const r = await runSnippet(`const a = nd.SharedNDArray.open(JSON.parse(args[0])); send({ scope: a.scope }); a.release(); ${end}`, [JSON.stringify(handle)]);
    assert.equal(r.messages.length, 1, r.stderr);
  }
}

describe('1. adoption by a forged handle', () => {
  it('never takes a persistent array, a store segment or a live owner\'s local array', async () => {
    const persistent = SharedNDArray.from([1, 2, 3], { scope: null });
    const local = SharedNDArray.from([4, 5, 6]);
    const store = storeName('forge');
    arraysToShm(store, { x: new Float64Array(4) }, { persistent: true });
    const tree = shmToArrays(store);
    const storeHandle = (tree['x'] as StoreLeaf).data.handle;
    releaseArrays(tree);
    for (const h of [persistent.handle, local.handle, storeHandle]) {
      const { tag, offer } = headerWords(h.name);
      // The old attack (the tag copied from the header as the offer), the offer word itself, and junk.
      for (const forged of [tag, offer, '1', '18446744073709551615']) await forgeAndEnd({ ...h, scope: 'remote', offer: forged });
      // Wait for the children's watchdogs too: nothing of theirs may remove it later.
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(exists(h.name), `${h.name} was removed by a forged handle`);
    }
    assert.deepEqual(persistent.toArray(), [1, 2, 3]);
    assert.equal(listStores().find((s) => s.name === store)?.intact, true);
    persistent.release(); // its creator's release removes it (scope null: nothing else does)
    assert.ok(!exists(persistent.name!));
    local.release();
    assert.ok(!exists(local.name!));
  });

  it('a real \'remote\' offer is taken once: the first opener owns it, a second opener does not', async () => {
    const creator = spawnSnippet(`
      const a = nd.SharedNDArray.from([7, 8], { scope: 'remote' });
      send({ handle: a.handle });
      await next();`);
    const { handle } = await creator.message<{ handle: SharedNDArrayHandle }>();
    assert.ok(handle.offer !== undefined && handle.offer !== '0');
    const first = spawnSnippet(`const a = nd.SharedNDArray.open(JSON.parse(args[0])); send({ scope: a.scope }); await next(); a.release();`, [JSON.stringify(handle)]);
    assert.deepEqual(await first.message(), { scope: 'local' });
    const second = await runSnippet(`const a = nd.SharedNDArray.open(JSON.parse(args[0])); send({ scope: a.scope }); a.release();`, [JSON.stringify(handle)]);
    assert.equal(second.code, 0, second.stderr);
    assert.ok(exists(handle.name), 'the second opener removed the adopted array');
    creator.send('exit');
    await creator.exited;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(exists(handle.name), 'the creator removed an array another process had adopted');
    first.send('release');
    await first.exited;
    assert.ok(!exists(handle.name), 'the adopter removes it');
  });

  it('a creator\'s manager.shutdown() leaves an array that a live process adopted', async () => {
    const manager = new SharedMemoryManager();
    const a = manager.from([1, 2, 3], { scope: 'remote' });
    const adopter = spawnSnippet(`const a = nd.SharedNDArray.open(JSON.parse(args[0])); send({ scope: a.scope }); await next(); a.release();`, [JSON.stringify(a.handle)]);
    assert.deepEqual(await adopter.message(), { scope: 'local' });
    manager.shutdown();
    assert.ok(exists(a.name!), 'shutdown removed an adopted array');
    adopter.send('release');
    await adopter.exited;
    assert.ok(!exists(a.name!));
  });

  it('a creator that withdraws first keeps the array from later adopters', async () => {
    const manager = new SharedMemoryManager();
    const a = manager.from([1, 2, 3], { scope: 'remote' });
    const handle = a.handle;
    manager.shutdown(); // nobody adopted: removed
    assert.ok(!exists(handle.name));
    const r = await runSnippet(`try { nd.SharedNDArray.open(JSON.parse(args[0])); send('opened'); } catch (e) { send(e.code); }`, [JSON.stringify(handle)]);
    assert.deepEqual(r.messages, ['ENOENT']);
  });
});

describe('2. keys that are Object.prototype\'s names', () => {
  const hostile = (): Record<string, unknown> =>
    JSON.parse('{"__proto__": {"polluted": [1, 2]}, "constructor": {"prototype": {"x": [3]}}, "prototype": [4], "toString": [5]}') as Record<string, unknown>;
  const clean = (): void => {
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype was polluted');
    assert.equal((Object.prototype as unknown as Record<string, unknown>)['x'], undefined, 'Object.prototype was polluted');
    assert.equal(typeof Object, 'function');
  };

  it('arraysToShm and shmToArrays keep every key as data, in this process and in another', async () => {
    const name = storeName('proto');
    const w = arraysToShm(name, hostile());
    assert.equal(w.arrays, 4);
    clean();
    const t = shmToArrays(name);
    clean();
    assert.equal(Object.getPrototypeOf(t), null);
    const leaf = (path: string[]): unknown => {
      let node: unknown = t;
      for (const k of path) {
        assert.ok(Object.hasOwn(node as object, k), `${path.join('/')} is missing`);
        node = (node as Record<string, unknown>)[k];
      }
      return (node as StoreLeaf).data.toArray();
    };
    assert.deepEqual(leaf(['__proto__', 'polluted']), [1, 2]);
    assert.deepEqual(leaf(['constructor', 'prototype', 'x']), [3]);
    assert.deepEqual(leaf(['prototype']), [4]);
    assert.deepEqual(leaf(['toString']), [5]);
    releaseArrays(t);
    assert.deepEqual(listStores().find((s) => s.name === name)!.arrays.map((a) => a.path.join('/')).sort(), ['__proto__/polluted', 'constructor/prototype/x', 'prototype', 'toString']);
    const r = await runSnippet(
      `const t = nd.shmToArrays(args[0]); send({ polluted: ({}).polluted ?? null, x: Object.prototype.x ?? null, v: t['__proto__'].polluted.data.toArray() }); nd.releaseArrays(t);`,
      [name],
    );
    assert.deepEqual(r.messages, [{ polluted: null, x: null, v: [1, 2] }]);
  });

  it('a manifest whose tree and attributes use those keys reads as data', () => {
    const name = storeName('pman');
    arraysToShm(name, { a: [1, 2] }, { attrs: JSON.parse('{"__proto__": {"polluted": 1}, "constructor": 2}') as Record<string, number> });
    const m = JSON.parse(readFileSync(`/dev/shm/store.${name}`).subarray(32).toString('utf8')) as { tree: Record<string, unknown> };
    const leaf = m.tree['a'];
    m.tree = JSON.parse(`{"__proto__": {"constructor": ${JSON.stringify(leaf)}}}`) as Record<string, unknown>;
    writeFileSync(`/dev/shm/store.${name}`, encodeManifest(m as never));
    const t = shmToArrays(name);
    clean();
    assert.deepEqual(((t['__proto__'] as unknown as Record<string, StoreLeaf>)['constructor']!).data.toArray(), [1, 2]);
    releaseArrays(t);
    const info = listStores().find((s) => s.name === name)!;
    assert.equal(Object.getOwnPropertyDescriptor(info.attrs, '__proto__')?.value.polluted, 1);
    assert.equal(info.attrs['constructor'], 2);
    clean();
  });

  it('.npz members named after them load as data', { skip: pythonMissing() ?? false }, async () => {
    const file = `${dir}/proto.npz`;
    python(
      `import sys, io, zipfile, numpy as np
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    for path, v in [('__proto__/polluted.npy', 1), ('constructor/prototype/x.npy', 2), ('prototype.npy', 3)]:
        b = io.BytesIO(); np.save(b, np.array([v], dtype=np.int32)); z.writestr(path, b.getvalue())`,
      [file],
    );
    const name = storeName('pnpz');
    const w = await npzToShm(file, name);
    assert.equal(w.arrays, 3);
    clean();
    const t = shmToArrays(name) as unknown as Record<string, Record<string, unknown>>;
    assert.deepEqual((t['__proto__']!['polluted'] as StoreLeaf).data.toArray(), [1]);
    assert.deepEqual(((t['constructor']!['prototype'] as Record<string, StoreLeaf>)['x']!).data.toArray(), [2]);
    releaseArrays(t as never);
    clean();
  });

  it('packArrays and unpackArrays keep a "__proto__" key as an own key', () => {
    const a = SharedNDArray.from([9]);
    const message = JSON.parse(JSON.stringify(packArrays({ x: a }))) as Record<string, unknown>;
    const hostileMessage = JSON.parse(`{"__proto__": ${JSON.stringify(message['x'])}, "constructor": {"prototype": ${JSON.stringify(message['x'])}}}`) as unknown;
    const out = unpackArrays<Record<string, unknown>>(hostileMessage);
    clean();
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    const own = Object.getOwnPropertyDescriptor(out, '__proto__')?.value as SharedNDArray;
    assert.ok(own instanceof SharedNDArray);
    assert.deepEqual(own.toArray(), [9]);
    const repacked = packArrays(out) as Record<string, unknown>;
    assert.ok(Object.hasOwn(repacked, '__proto__'));
    own.release();
    ((out['constructor'] as Record<string, SharedNDArray>)['prototype'])!.release();
    a.release();
  });

  it('a message that fails part-way leaves no array open; one nested past 1000 levels is EINVAL, not a stack overflow', () => {
    const name = uniqueName('part');
    const a = SharedNDArray.from([1, 2], { name, scope: null }); // persistent: stays after release
    const good = JSON.parse(JSON.stringify(packArrays({ a })))['a'] as unknown;
    a.release();
    const mapped = (): number => readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith(`/dev/shm/${name}`)).length;
    assert.equal(mapped(), 0);
    const broken = { first: good, second: { '@ndshm': { ...(good as { '@ndshm': object })['@ndshm'], id: 'ffffffffffffffff' } } };
    assert.equal(errorCode(() => unpackArrays(broken)), 'ENOENT');
    assert.equal(mapped(), 0, 'the array opened before the failure was released');
    let deep: unknown = good;
    for (let k = 0; k < 5000; k++) deep = [deep];
    assert.equal(errorCode(() => unpackArrays(deep)), 'EINVAL');
    assert.equal(errorCode(() => packArrays(deep)), 'EINVAL');
    assert.equal(mapped(), 0);
    removeSegments([name]);
  });

  it('every field of a manifest, given the wrong type, is EBADHEADER for every reader', () => {
    const name = storeName('ptype');
    arraysToShm(name, { g: { a: new Float32Array([1, 2]) } }, { attrs: { k: 1 } });
    const path = `/dev/shm/store.${name}`;
    const original = readFileSync(path);
    const m = JSON.parse(original.subarray(32).toString('utf8')) as Record<string, unknown>;
    const paths: string[][] = [];
    const walk = (v: unknown, at: string[]): void => {
      paths.push(at);
      if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) walk(x, [...at, k]);
    };
    walk(m, []);
    const wrong: unknown[] = [null, 7, -1, 1.5, 'x', true, [], {}, [null], { '@leaf': null }];
    let cases = 0;
    for (const at of paths.filter((p) => p.length > 0)) {
      for (const value of wrong) {
        const copy = JSON.parse(JSON.stringify(m)) as Record<string, unknown>;
        let node = copy;
        for (const k of at.slice(0, -1)) node = node[k] as Record<string, unknown>;
        node[at.at(-1)!] = value;
        writeFileSync(path, encodeManifest(copy as never));
        cases++;
        for (const [what, run] of [
          ['shmToArrays', () => releaseArrays(shmToArrays(name))],
          ['listStores', () => listStores()],
        ] as const) {
          try {
            run();
          } catch (err) {
            assert.ok(err instanceof NdshmError, `${what} with ${at.join('.')} = ${JSON.stringify(value)} threw ${String(err)}`);
            assert.ok(['EBADHEADER', 'ENOENT'].includes(err.code), `${what}: ${err.code} ${err.message}`);
          }
        }
      }
    }
    assert.ok(cases > 100);
    writeFileSync(path, original);
    clean();
  });
});

describe('3. paths from manifests', () => {
  it('a cute-shm manifest naming a path outside /dev/shm is EBADHEADER, and nothing is removed', () => {
    const root = mkdtempSync(`${tmpdir()}/cute-root-`);
    const victim = `${dir}/victim.txt`;
    writeFileSync(victim, 'precious');
    const toml = `${root}/cute-shm.evil.toml`;
    for (const bad of [`../../..${victim}`, '../x', '/etc/passwd', 'a/b', '', '.', '..']) {
      writeFileSync(toml, `[a]\nshm_name = ${JSON.stringify(bad)}\nshm_private_name = "/x"\nshape = [1]\ndtype = "float64"\n[a.attrs]\n`);
      assert.equal(errorCode(() => shmToArrays('evil', { format: 'cute-shm', cuteShmRoot: root })), 'EBADHEADER', bad);
      assert.equal(errorCode(() => unlink('evil', { format: 'cute-shm', cuteShmRoot: root })), 'EBADHEADER', bad);
      assert.ok(existsSync(victim) && existsSync(toml), `${bad}: something was removed`);
      const listed = listStores({ cuteShmRoot: root }).find((s) => s.name === 'evil');
      assert.equal(listed?.intact, false);
      gc({ cuteShmRoot: root });
      assert.ok(existsSync(victim));
    }
    rmSync(root, { recursive: true });
  });

  it('a manifest folder that others may write, or that is a link, is refused', () => {
    const root = mkdtempSync(`${tmpdir()}/cute-root-`);
    const store = storeName('cw');
    for (const mode of [0o770, 0o777, 0o720]) {
      chmodSync(root, mode);
      assert.equal(errorCode(() => arraysToShm(store, { a: [1] }, { format: 'cute-shm', cuteShmRoot: root })), 'EACCES', mode.toString(8));
      assert.equal(errorCode(() => shmToArrays(store, { format: 'cute-shm', cuteShmRoot: root })), 'EACCES');
      assert.deepEqual(listStores({ cuteShmRoot: root }).filter((s) => s.format === 'cute-shm' && s.name === store), []);
    }
    chmodSync(root, 0o700);
    const link = `${dir}/link-root`;
    symlinkSync(root, link);
    assert.equal(errorCode(() => arraysToShm(store, { a: [1] }, { format: 'cute-shm', cuteShmRoot: link })), 'EACCES');
    rmSync(root, { recursive: true });
  });

  it('the ndshm manifest names only segments: a name with a path is EBADHEADER', () => {
    const name = storeName('mpath');
    arraysToShm(name, { a: [1] });
    const path = `/dev/shm/store.${name}`;
    const original = readFileSync(path);
    const m = JSON.parse(original.subarray(32).toString('utf8')) as { segments: { name: string }[] };
    const real = m.segments[0]!.name;
    m.segments[0]!.name = '../../tmp/x';
    writeFileSync(path, encodeManifest(m as never));
    assert.equal(errorCode(() => shmToArrays(name)), 'EBADHEADER');
    assert.equal(errorCode(() => unlink(name)), 'EBADHEADER');
    assert.ok(exists(real));
    writeFileSync(path, original);
  });
});

describe('5. special files under segment and manifest names', () => {
  const fifo = (name: string): void => {
    execFileSync('mkfifo', ['-m', '600', `/dev/shm/${name}`]);
  };

  it('a FIFO never hangs a reader: listStores, shmToArrays, gc, Segment.open, SharedNDArray.open, ndshm list', async () => {
    const store = storeName('fifo');
    const seg = uniqueName('fifoseg');
    fifo(`store.${store}`);
    fifo(seg);
    try {
      // In a child, so that a hang is a failed test rather than a stuck suite.
      const r = await runSnippet(
          `const codes = {};
           const code = (f) => { try { f(); return 'none'; } catch (e) { return e.code; } };
           const listed = nd.listStores().find((s) => s.name === args[0]);
           codes.list = listed === undefined ? 'missing' : listed.intact ? 'intact' : 'broken';
           codes.shmToArrays = code(() => nd.shmToArrays(args[0]));
           codes.segmentOpen = code(() => nd.Segment.open(args[1]));
           codes.segmentOpenRO = code(() => nd.Segment.open(args[1], { readOnly: true }));
           codes.arrayOpenRO = code(() => nd.SharedNDArray.open(args[1], { readOnly: true }));
           codes.listed = nd.Segment.list().some((s) => s.name === args[1]) ? 'yes' : 'no';
           codes.gc = code(() => nd.gc({ dryRun: true }));
           codes.unlink = code(() => nd.unlink(args[0]));
           send(codes);`,
          [store, seg],
          { timeoutMs: 10_000 },
      );
      const { messages, stderr } = r;
      assert.deepEqual(messages, [
        { list: 'broken', shmToArrays: 'EFTYPE', segmentOpen: 'EFTYPE', segmentOpenRO: 'EFTYPE', arrayOpenRO: 'EFTYPE', listed: 'no', gc: 'none', unlink: 'EFTYPE' },
      ], stderr);
      const list = spawnSync(process.execPath, [cli, 'list'], { encoding: 'utf8', timeout: 10_000 });
      assert.equal(list.status, 0, list.stderr);
      assert.match(list.stdout, new RegExp(`${store}.*FIFO`));
      assert.ok(statSync(`/dev/shm/store.${store}`).isFIFO(), 'gc or unlink removed the FIFO it may not judge');
    } finally {
      removeSegments([`store.${store}`, seg]);
    }
  });

  it('a symbolic link is never followed', () => {
    const target = `${dir}/target`;
    writeFileSync(target, Buffer.alloc(4096));
    const link = uniqueName('link');
    symlinkSync(target, `/dev/shm/${link}`);
    try {
      assert.equal(errorCode(() => Segment.open(link)), 'EFTYPE');
      assert.equal(errorCode(() => SharedNDArray.open(link, { readOnly: true })), 'EFTYPE');
      assert.ok(!Segment.list().some((s) => s.name === link));
    } finally {
      unlinkSync(`/dev/shm/${link}`);
    }
  });

  it('a FIFO or a directory given as a file to load is EFTYPE, at once', async () => {
    const path = `${dir}/pipe.npz`;
    execFileSync('mkfifo', [path]);
    const r = await runSnippet(
      `const code = async (f) => { try { await f(); return 'none'; } catch (e) { return e.code; } };
       send([await code(() => nd.npyToShm(args[0], args[1])), await code(() => nd.npzToShm(args[0], args[1])), await code(() => nd.npyToShm(args[2], args[1]))]);`,
      [path, storeName('fifo-load'), dir],
      { timeoutMs: 10_000 },
    );
    assert.deepEqual(r.messages, [['EFTYPE', 'EFTYPE', 'EFTYPE']], r.stderr);
    const load = spawnSync(process.execPath, [cli, 'load', storeName('fifo-cli'), path], { encoding: 'utf8', timeout: 10_000 });
    assert.equal(load.status, 1);
    assert.match(load.stderr, /^ndshm load: .*pipe\.npz is not a regular file\n$/);
  });
});

describe('6. segments of other users', () => {
  const asRoot = process.getuid?.() === 0;
  it('are refused unless the caller opts in (regions, arrays, segments)', { skip: asRoot ? false : 'needs root to run a child as another user' }, async () => {
    const key = uniqueName('foreign');
    const owner = spawnSnippet(
      `const a = nd.SharedNDArray.from([1, 2, 3], { name: args[0], mode: 0o666 }); send({ uid: process.getuid() }); await next(); a.release();`,
      [key],
      { uid: 65534, gid: 65534 },
    );
    const first = await owner.message<{ uid?: number; error?: string }>();
    assert.equal(first.uid, 65534, JSON.stringify(first));
    try {
      assert.equal(errorCode(() => createSharedMemoryRegion('t', `/${key}`, 16)), 'EACCES');
      assert.equal(errorCode(() => Segment.open(key)), 'EACCES');
      assert.equal(errorCode(() => SharedNDArray.open(key)), 'EACCES');
      const region = createSharedMemoryRegion('t', `/${key}`, 16, { allowOtherUsers: true });
      region[Symbol.dispose]();
      const a = SharedNDArray.open(key, { allowOtherUsers: true, readOnly: true });
      assert.deepEqual(a.toArray(), [1, 2, 3]);
      a.release();
      if (pythonMissing() === undefined) {
        const py = python(
          `import sys; sys.path.insert(0, sys.argv[2]); import ndshm
try:
    ndshm.open(sys.argv[1]); print('opened')
except PermissionError: print('refused')
print(ndshm.open(sys.argv[1], readonly=True, allow_other_users=True).tolist())`,
          [key, fileURLToPath(new URL('../../../python', import.meta.url))],
        );
        assert.equal(py, 'refused\n[1.0, 2.0, 3.0]\n');
      }
      assert.ok(exists(key), 'an attacher removed another user\'s segment');
    } finally {
      owner.send('end');
      await owner.exited;
    }
    await waitFor(() => !exists(key), 2000, 'the owner to remove its array');
  });
});

describe('7. sizes that overflow', () => {
  it('a handle whose view has more elements than its memory is refused, never an abort', async () => {
    const a = SharedNDArray.from([1, 2, 3, 4]);
    const h = a.handle;
    const forged: [string, SharedNDArrayHandle][] = [
      ['zero strides, huge shape', { ...h, shape: [2 ** 30, 2 ** 30], strides: [0, 0] }],
      ['zero strides, shape 5', { ...h, shape: [5], strides: [0] }],
      ['shape whose product is not safe', { ...h, shape: [2 ** 40, 2 ** 40], strides: [8, 8] }],
      ['one axis past safe integers', { ...h, shape: [2 ** 53], strides: [8] }],
      ['negative stride before the data', { ...h, shape: [2], strides: [-8], offset: 0 }],
    ];
    for (const [what, handle] of forged) {
      const code = errorCode(() => SharedNDArray.open(handle));
      assert.ok(['EINVAL', 'EBADHEADER'].includes(code), `${what}: ${code}`);
    }
    // The same in a child that would abort (V8 out of memory) if one were accepted.
    const r = await runSnippet(`try { nd.SharedNDArray.open(JSON.parse(args[0])).toArray(); send('opened'); } catch (e) { send(e.code); }`, [JSON.stringify(forged[0]![1])]);
    assert.equal(r.signal, null);
    assert.deepEqual(r.messages, ['EINVAL']);
    a.release();
  });
});

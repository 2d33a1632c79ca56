// Every public function and every method of every public object, in every state (open, closed,
// released, unlinked, destroyed, shut down), with valid arguments and then with each argument
// replaced by hostile values: whatever it throws (or a promise it returns rejects with) must be an
// NdshmError whose code docs/errors.md documents. (better-sqlite3 keeps the same matrix.)
//
// Not covered on purpose: errors thrown by the caller's own callbacks (a progress function, a
// getter of an object the caller passes) propagate unchanged, as documented.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

import * as nd from '../../src/index.js';
import { removeSegments, shmNames, uniqueName } from '../helpers/shm.js';

const documented = new Set(
  [...readFileSync(fileURLToPath(new URL('../../../docs/errors.md', import.meta.url)), 'utf8').matchAll(/^\| `(E[A-Z]+)` \|/gm)].map((m) => m[1]!),
);

const dir = mkdtempSync(`${tmpdir()}/ndshm-matrix-`);
const before = new Set(shmNames());
const prefix = uniqueName('mx').slice(0, 12);
let seq = 0;
const fresh = (): string => `${prefix}-${(seq++).toString(36)}`;
const stores: string[] = [];
const freshStore = (): string => {
  const s = `${prefix.slice(0, 10)}s${(seq++).toString(36)}`;
  stores.push(s);
  return s;
};

after(() => {
  for (const s of stores) {
    try {
      nd.unlink(s);
    } catch {
      // never made, or removed
    }
  }
  // What the matrix made with persistent options or junk names of its own prefix.
  removeSegments(shmNames().filter((n) => !before.has(n) && n.includes(prefix)));
  rmSync(dir, { recursive: true, force: true });
});

// Values a careless or hostile caller passes. No throwing getters or callbacks (see above).
const hostile: unknown[] = [
  undefined, null, true, 0, -1, 0.5, NaN, Infinity, -Infinity, 2 ** 53, 2 ** 64, -0,
  0n, -1n, 2n ** 64n, '', ' ', '\0', '../x', '/', 'a'.repeat(300), '__proto__', 'constructor', '🙂',
  Symbol('s'), {}, [], [1, 2], [-1], [0.5], [2 ** 53], [[1]], [NaN], { length: -1 }, { ndshm: 1 },
  Object.create(null), () => 1, new Date(0), new Uint8Array(4), new Float64Array(2), new ArrayBuffer(8),
  new SharedArrayBuffer(8), new DataView(new ArrayBuffer(8)), new Map(), new Set([1]), /re/, new Proxy({}, {}),
  JSON.parse('{"__proto__": {"x": 1}}'),
];

interface Outcome {
  what: string;
  error: unknown;
}
const failures: Outcome[] = [];
let calls = 0;

function judge(what: string, error: unknown): void {
  if (nd.isNdshmError(error) && documented.has(error.code)) return;
  failures.push({ what, error });
}

/** Calls `fn`, judging what it throws or what its promise rejects with. */
async function attempt(what: string, fn: () => unknown): Promise<void> {
  calls++;
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    judge(what, err);
    return;
  }
  if (result instanceof Promise) {
    try {
      await result;
    } catch (err) {
      judge(what, err);
    }
  }
  cleanupResult(result);
}

// Anything a successful call made, released again (arrays, regions, trees, segments).
function cleanupResult(result: unknown): void {
  try {
    if (Array.isArray(result) && result.length === 2 && result[0] instanceof nd.SharedNDArray) {
      result[0].release();
      if (result[1] instanceof nd.HostSharedMemory) void nd.cleanupSharedNdarray(result[1]).catch(() => undefined);
    } else if (result instanceof nd.HostGroup) void result.close();
    else if (result instanceof nd.SharedNDArray) result.release();
    else if (result instanceof nd.Segment) result.close();
    else if (result instanceof nd.SharedMemoryRegion) nd.destroySharedMemoryRegion(result);
    else if (result !== null && typeof result === 'object' && Symbol.dispose in result) (result as Disposable)[Symbol.dispose]();
  } catch {
    // judged elsewhere
  }
}

const show = (v: unknown): string => {
  if (typeof v === 'symbol') return 'Symbol()';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'function';
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 40 ? `${s.slice(0, 40)}…` : s;
  } catch {
    return Object.prototype.toString.call(v);
  }
};

/** The call with valid arguments, then each argument replaced by each hostile value, then one more argument. */
async function fuzz(what: string, valid: () => unknown[], call: (args: unknown[]) => unknown): Promise<void> {
  await attempt(`${what}(valid)`, () => call(valid()));
  const n = valid().length;
  for (let i = 0; i < n; i++) {
    for (const h of hostile) {
      const args = valid();
      args[i] = h;
      await attempt(`${what}(arg ${i} = ${show(h)})`, () => call(args));
    }
  }
  for (const h of hostile.slice(0, 8)) await attempt(`${what}(extra ${show(h)})`, () => call([...valid(), h]));
}

// ----- objects in every state ------------------------------------------------------------------

type Maker<T> = [state: string, make: () => T];

const segments: Maker<nd.Segment>[] = [
  ['open', () => nd.Segment.create(fresh(), 64)],
  ['closed', () => {
    const s = nd.Segment.create(fresh(), 64);
    s.close();
    return s;
  }],
  ['unlinked', () => {
    const s = nd.Segment.create(fresh(), 64);
    s.unlink();
    return s;
  }],
  ['closed and unlinked', () => {
    const s = nd.Segment.create(fresh(), 64);
    s.close();
    s.unlink();
    return s;
  }],
  ['read-only attach', () => {
    const s = nd.Segment.create(fresh(), 64);
    const r = nd.Segment.open(s.name, { readOnly: true });
    s.close();
    return r;
  }],
];

const arrays: Maker<nd.SharedNDArray>[] = [
  ['live', () => nd.SharedNDArray.from([[1, 2, 3], [4, 5, 6]], { dtype: 'float32' })],
  ['released', () => {
    const a = nd.SharedNDArray.from([1, 2, 3]);
    a.release();
    return a;
  }],
  ['a view of a released array', () => {
    const a = nd.SharedNDArray.from([1, 2, 3, 4]);
    const v = a.slice('1:3');
    a.release();
    return v;
  }],
  ['read-only', () => {
    const a = nd.SharedNDArray.from([1, 2], { scope: null });
    const r = nd.SharedNDArray.open(a.handle, { readOnly: true });
    a.release();
    return r;
  }],
  ['remote', () => nd.SharedNDArray.from([1, 2], { scope: 'remote' })],
  ['a local copy', () => {
    const a = nd.SharedNDArray.from([1, 2, 3]);
    const c = a.slice([0, 2]);
    a.release();
    return c;
  }],
  ['big-endian', () => nd.SharedNDArray.from([1, 2], { dtype: '>i4' })],
  ['complex', () => nd.SharedNDArray.zeros([2], 'complex64')],
  ['0-d', () => nd.SharedNDArray.from(3)],
  ['zero-size', () => nd.SharedNDArray.zeros([0, 3])],
];

const regions: Maker<nd.SharedMemoryRegion>[] = [
  ['live', () => nd.createSharedMemoryRegion('m', `/${fresh()}`, 64)],
  ['destroyed', () => {
    const r = nd.createSharedMemoryRegion('m', `/${fresh()}`, 64);
    nd.destroySharedMemoryRegion(r);
    return r;
  }],
];

const managers: Maker<nd.SharedMemoryManager>[] = [
  ['live', () => new nd.SharedMemoryManager()],
  ['shut down', () => {
    const m = new nd.SharedMemoryManager();
    m.zeros([2]);
    m.shutdown();
    return m;
  }],
];

/** Every method and getter of `object` (and its prototypes), each called with fuzzed arguments. */
async function everyMember<T extends object>(kind: string, makers: Maker<T>[], validArgs: Record<string, () => unknown[]>): Promise<void> {
  for (const [state, make] of makers) {
    const sample = make();
    const members = new Set<string | symbol>();
    for (let p: object | null = sample; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
      for (const k of Reflect.ownKeys(p)) if (k !== 'constructor') members.add(k);
    }
    cleanupResult(sample);
    for (const member of members) {
      const name = typeof member === 'symbol' ? member.toString() : member;
      const what = `${kind} (${state}).${name}`;
      await fuzz(what, validArgs[name] ?? (() => []), (args) => {
        const o = make();
        try {
          const v = (o as Record<string | symbol, unknown>)[member];
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).apply(o, args) : v;
        } finally {
          cleanupResult(o);
        }
      });
    }
  }
}

describe('the state matrix', () => {
  it('Segment: static methods, and every member in every state', async () => {
    await fuzz('Segment.create', () => [fresh(), 16, {}], (a) => nd.Segment.create(...(a as [string, number])));
    await fuzz('Segment.open', () => {
      const s = nd.Segment.create(fresh(), 16);
      return [s.name, { readOnly: false }];
    }, (a) => nd.Segment.open(...(a as [string])));
    await fuzz('Segment.unlink', () => [nd.Segment.create(fresh(), 16).name], (a) => nd.Segment.unlink(...(a as [string])));
    await fuzz('Segment.list', () => [], () => nd.Segment.list());
    await attempt('new Segment', () => new (nd.Segment as unknown as new (...a: unknown[]) => unknown)('x', {}, false, true));
    await everyMember('Segment', segments, {});
  });

  it('SharedNDArray: factories, and every member in every state', async () => {
    const S = nd.SharedNDArray;
    await fuzz('SharedNDArray.empty', () => [[2, 3], 'float64', {}], (a) => S.empty(...(a as [number[]])));
    await fuzz('SharedNDArray.zeros', () => [[2], 'int16', { order: 'F' }], (a) => S.zeros(...(a as [number[]])));
    await fuzz('SharedNDArray.full', () => [[2], 7, 'uint8'], (a) => S.full(...(a as [number[], number])));
    await fuzz('SharedNDArray.from', () => [[1, 2, 3], { dtype: 'int32' }], (a) => S.from(...(a as [unknown])));
    await fuzz('SharedNDArray.open', () => [S.from([1, 2]).handle, {}], (a) => S.open(...(a as [string])));
    await fuzz('SharedNDArray.open(name)', () => [S.from([1, 2]).name, { readOnly: true }], (a) => S.open(...(a as [string])));
    await fuzz('SharedNDArray.isHandle', () => [{}], (a) => S.isHandle(a[0]));
    await attempt('new SharedNDArray', () => new (S as unknown as new (...a: unknown[]) => unknown)({}, { shape: [1], strides: [1], offset: 0 }, {}));
    await everyMember('SharedNDArray', arrays, {
      get: () => [0],
      set: () => [0, 1],
      fill: () => [2],
      slice: () => ['0:1'],
      transpose: () => [],
      reshape: () => [-1],
      copy: () => [{ dtype: 'float64' }],
    });
  });

  it('regions: every function, and every member in every state', async () => {
    await fuzz('createSharedMemoryRegion', () => ['t', `/${fresh()}`, 32, { createOnly: true }], (a) => nd.createSharedMemoryRegion(...(a as [string, string, number])));
    for (const [state, make] of regions) {
      await fuzz(`setSharedMemoryRegion (${state})`, () => [make(), [new Float32Array([1, 2])], 0], (a) => nd.setSharedMemoryRegion(...(a as [nd.SharedMemoryRegion, Float32Array[]])));
      await fuzz(`getContentsAsArray (${state})`, () => [make(), 'float32', [2], 0], (a) => nd.getContentsAsArray(...(a as [nd.SharedMemoryRegion, string, number[]])));
      await fuzz(`destroySharedMemoryRegion (${state})`, () => [make()], (a) => nd.destroySharedMemoryRegion(...(a as [nd.SharedMemoryRegion])));
    }
    await fuzz('mappedSharedMemoryRegions', () => [], () => nd.mappedSharedMemoryRegions());
    await attempt('new SharedMemoryRegion', () => new (nd.SharedMemoryRegion as unknown as new (...a: unknown[]) => unknown)('t', '/k', 4));
    await everyMember('SharedMemoryRegion', regions, {});
  });

  it('groupPool and poolGroup', async () => {
    await fuzz('groupPool', () => ['thread', { size: 1, timeout: 10_000 }], async (a) => {
      const made = await nd.groupPool(...(a as ['thread']));
      await made.group.close();
      await made.pool.terminate();
    });
    await fuzz('poolGroup', () => [], () => nd.poolGroup());
  });

  it('SharedMemoryManager, messages, dtype and the rest of the arrays layer', async () => {
    await everyMember('SharedMemoryManager', managers, {
      empty: () => [[2]],
      zeros: () => [[2]],
      full: () => [[2], 1],
      from: () => [[1, 2]],
      open: () => [nd.SharedNDArray.from([1]).handle],
    });
    await fuzz('packArrays', () => [{ a: nd.SharedNDArray.from([1]) }], (a) => nd.packArrays(a[0]));
    await fuzz('unpackArrays', () => [nd.packArrays({ a: nd.SharedNDArray.from([1]) }), {}], (a) => nd.unpackArrays(...(a as [unknown])));
    await fuzz('sendArrays', () => [{ postMessage: () => undefined }, { x: 1 }], (a) => nd.sendArrays(...(a as [{ postMessage(): void }, unknown])));
    await fuzz('dtype', () => ['<f8'], (a) => nd.dtype(a[0] as string));
    await fuzz('isNdshmError', () => [new Error('x'), 'EINVAL'], (a) => nd.isNdshmError(...(a as [unknown])));
    await fuzz('runtimeInfo', () => [], () => nd.runtimeInfo());
    await fuzz('gc', () => [{ dryRun: true }], (a) => nd.gc(a[0] as nd.StoreGcOptions));
  });

  it('stores: every function, with stores live, released and removed', async () => {
    // Hostile paths are relative ("__proto__", " "): whatever a call writes lands in the test's folder.
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      await storeCalls();
    } finally {
      process.chdir(cwd);
    }
  });

  async function storeCalls(): Promise<void> {
    const tree = (): Record<string, unknown> => ({ a: new Float64Array([1, 2]), g: { b: [1, 2, 3] } });
    await fuzz('arraysToShm', () => [freshStore(), tree(), { persistent: false }], (a) => nd.arraysToShm(...(a as [string, object])));
    const live = (): string => {
      const s = freshStore();
      nd.arraysToShm(s, tree());
      return s;
    };
    const removed = (): string => {
      const s = live();
      nd.unlink(s);
      return s;
    };
    for (const [state, name] of [['live', live], ['removed', removed]] as const) {
      await fuzz(`shmToArrays (${state})`, () => [name(), { readOnly: true }], (a) => nd.shmToArrays(...(a as [string])));
      await fuzz(`unlink (${state})`, () => [name(), { format: 'ndshm' }], (a) => nd.unlink(...(a as [string])));
      await fuzz(`shmToNpz (${state})`, () => [name(), `${dir}/${fresh()}.npz`, {}], (a) => nd.shmToNpz(...(a as [string, string])));
    }
    const released = (): nd.StoreTree => {
      const t = nd.shmToArrays(live());
      nd.releaseArrays(t);
      return t;
    };
    await fuzz('releaseArrays', () => [released()], (a) => nd.releaseArrays(a[0] as nd.StoreTree));
    await fuzz('shmToNpy', () => [live(), 'a', `${dir}/${fresh()}.npy`, {}], (a) => nd.shmToNpy(...(a as [string, string, string])));
    await fuzz('listStores', () => [{}], (a) => nd.listStores(a[0] as object));
    await fuzz('unlinkedArraysToShm', () => [freshStore(), tree(), {}], (a) => nd.unlinkedArraysToShm(...(a as [string, object])));
    const npy = `${dir}/one.npy`;
    nd.shmToNpy(live(), 'g/b', npy);
    writeFileSync(`${dir}/junk.npz`, 'not a zip');
    await fuzz('npyToShm', () => [npy, freshStore(), { key: 'k' }], (a) => nd.npyToShm(...(a as [string, string])));
    await fuzz('npzToShm', () => [`${dir}/junk.npz`, freshStore(), {}], (a) => nd.npzToShm(...(a as [string, string])));
    await fuzz('hdf5ToShm', () => [npy, freshStore(), {}], (a) => nd.hdf5ToShm(...(a as [string, string])));
  }

  it('host groups: HostGroup in every state, ResourceAllocation, createSharedNdarray, cleanupSharedNdarray, LocalNdarray', async () => {
    let g = 0;
    const gname = (): string => `${prefix.slice(0, 12)}g${(g++).toString(36)}`;
    // Members of a group of two in this thread whose partner never calls: collectives time out at once.
    const pair = async (): Promise<[nd.HostGroup, nd.HostGroup]> => {
      const name = gname();
      const [a, b] = await Promise.all([0, 1].map((rank) => nd.HostGroup.join(name, { size: 2, rank, collectiveTimeout: 0 })));
      return [a!, b!];
    };
    type GroupMaker = [state: string, make: () => Promise<{ group: nd.HostGroup; done: () => Promise<void> }>];
    const groups: GroupMaker[] = [
      ['alone', async () => {
        const group = await nd.HostGroup.join(gname(), { size: 1 });
        return { group, done: () => group.close() };
      }],
      ['one of two', async () => {
        const [a, b] = await pair();
        return { group: a, done: async () => { await a.close(); await b.close(); } };
      }],
      ['broken (the other left)', async () => {
        const [a, b] = await pair();
        await b.close();
        return { group: a, done: () => a.close() };
      }],
      ['closed', async () => {
        const [a, b] = await pair();
        await a.close();
        return { group: a, done: () => b.close() };
      }],
    ];
    const groupArgs: Record<string, () => unknown[]> = {
      barrier: () => [{ timeout: 0 }],
      broadcast: () => [{ x: 1 }, 0, { timeout: 0 }],
      gather: () => [[1, 'a'], { timeout: 0 }],
    };
    for (const [state, make] of groups) {
      const sample = await make();
      const members = new Set<string | symbol>();
      for (let p: object | null = sample.group; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
        for (const k of Reflect.ownKeys(p)) if (k !== 'constructor') members.add(k);
      }
      await sample.done();
      for (const member of members) {
        const name = typeof member === 'symbol' ? member.toString() : member;
        const valid = groupArgs[name] ?? (() => []);
        const n = valid().length;
        const variants: unknown[][] = [valid()];
        for (let i = 0; i < n; i++) for (const h of hostile) variants.push(valid().map((v, k) => (k === i ? h : v)));
        for (const h of hostile.slice(0, 8)) variants.push([...valid(), h]);
        for (const args of variants) {
          const { group, done } = await make();
          await attempt(`HostGroup (${state}).${name}(${args.map(show).join(', ')})`, () => {
            const v = (group as unknown as Record<string | symbol, unknown>)[member];
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).apply(group, args) : v;
          });
          await done();
        }
      }
    }
    await fuzz('HostGroup.join', () => [gname(), { size: 1, timeout: 0 }], (a) => nd.HostGroup.join(...(a as [string, nd.HostGroupJoinOptions])));
    await fuzz('HostGroup.fromEnv', () => [{}, { timeout: 0 }], (a) => nd.HostGroup.fromEnv(...(a as [Record<string, string>])));
    await attempt('new HostGroup', () => new (nd.HostGroup as unknown as new (...a: unknown[]) => unknown)('x', 0, 1, undefined, undefined));

    // ResourceAllocation: without a group, with a group of one, with a closed group.
    const solo = await nd.HostGroup.join(gname(), { size: 1 });
    const gone = await nd.HostGroup.join(gname(), { size: 1 });
    await gone.close();
    await fuzz('new ResourceAllocation', () => [{ hostGroup: solo, memLimit: 1 << 20 }], (a) => new nd.ResourceAllocation(a[0] as nd.ResourceAllocationOptions));
    await everyMember('ResourceAllocation', [
      ['no group', () => new nd.ResourceAllocation()],
      ['a group of one, a memLimit', () => new nd.ResourceAllocation({ hostGroup: solo, memLimit: 100 })],
      ['a closed group', () => new nd.ResourceAllocation({ hostGroup: gone })],
    ], {
      addTrackedMemory: () => [10, { shared: true }],
      checkCanAllocateMemory: () => [10],
      temporarilyTrackMemory: () => [10, { shared: false }],
      hostGroupBarrier: () => [{ timeout: 0 }],
    });

    // createSharedNdarray: private (no group), and collective (one of two: the partner never comes).
    await fuzz('createSharedNdarray', () => [new nd.ResourceAllocation(), [2, 3], 'float32', { zeroOut: true, memoryTracker: null }], (a) =>
      nd.createSharedNdarray(...(a as [nd.ResourceAllocation, number[]])));
    const [p0, p1] = await pair();
    await fuzz('createSharedNdarray (collective)', () => [new nd.ResourceAllocation({ hostGroup: p0 }), [4], 'int32', { timeout: 0 }], (a) =>
      nd.createSharedNdarray(...(a as [nd.ResourceAllocation, number[]])));
    await p0.close();
    await p1.close();

    // cleanupSharedNdarray and HostSharedMemory: shm objects of a real shared array.
    const [q0, q1] = await pair();
    const made = await Promise.all([q0, q1].map((q) => nd.createSharedNdarray(new nd.ResourceAllocation({ hostGroup: q }), [3], 'float64', { timeout: 10_000 })));
    const shm = made[0]![1]!;
    await everyMember('HostSharedMemory', [['live', () => shm]], {});
    await fuzz('cleanupSharedNdarray', () => [shm, { timeout: 0 }], (a) => nd.cleanupSharedNdarray(...(a as [nd.HostSharedMemory])));
    await everyMember('HostSharedMemory', [['released', () => shm]], {});
    await nd.cleanupSharedNdarray(made[1]![1]);
    await q0.close();
    await q1.close();
    await attempt('new HostSharedMemory', () => new (nd.HostSharedMemory as unknown as new (...a: unknown[]) => unknown)('x', 1, {}));
    await fuzz('sharedMemIsEnabled', () => [], () => nd.sharedMemIsEnabled());

    // LocalNdarray: factories, and every member of a part made from a host array, opened, and released.
    const host = (): nd.SharedNDArray => nd.SharedNDArray.from([[1, 2, 3], [4, 5, 6]], { dtype: 'int16' });
    await fuzz('LocalNdarray.fromHost', () => [host(), ['0:1', [0, 3, 2]], { ownerRank: 1 }], (a) => nd.LocalNdarray.fromHost(...(a as [nd.SharedNDArray, string[]])));
    await fuzz('LocalNdarray.forRank', () => [host(), 1, 2, { axis: 1 }], (a) => nd.LocalNdarray.forRank(...(a as [nd.SharedNDArray, number, number])));
    await fuzz('LocalNdarray.open', () => [nd.LocalNdarray.forRank(host(), 0, 2).handle, { readOnly: true }], (a) => nd.LocalNdarray.open(...(a as [nd.LocalNdarrayHandle])));
    await fuzz('LocalNdarray.isHandle', () => [{}], (a) => nd.LocalNdarray.isHandle(a[0]));
    await attempt('new LocalNdarray', () => new (nd.LocalNdarray as unknown as new (...a: unknown[]) => unknown)(host(), [], null, false));
    await everyMember('LocalNdarray', [
      ['from a host array', () => nd.LocalNdarray.fromHost(host(), ['1:2'])],
      ['opened', () => nd.LocalNdarray.open(nd.LocalNdarray.forRank(host(), 1, 2).handle)],
      ['of a released host', () => {
        const h = host();
        const l = nd.LocalNdarray.forRank(h, 0, 1);
        h.release();
        return l;
      }],
      ['of a private array', () => nd.LocalNdarray.fromHost(nd.SharedNDArray.from([1, 2, 3]).slice([0, 2]), [':'])],
    ], {});
  });

  it('pools of each kind in every state (open, closed, joined, terminated), noParallel, the glob store', async () => {
    const taskModule = new URL('../pool/tasks.js', import.meta.url).href;
    const t = (name: string): { module: string; name: string } => ({ module: taskModule, name });
    const make = (kind: string): nd.Pool => (kind === 'serial' ? new nd.SerialPool() : kind === 'process' ? nd.processPool({ size: 1 }) : nd.threadPool({ size: 1 }));
    const members: [string | symbol, () => unknown[]][] = [
      ['apply', () => [t('add'), [1, 2], {}]],
      ['applyAsync', () => [t('add'), [1, 2], { callback: () => undefined }]],
      ['map', () => [t('echo'), [1, 2], { chunksize: 1 }]],
      ['starmap', () => [t('add'), [[1, 2]], { progress: false }]],
      ['imap', () => [t('echo'), [1], {}]],
      ['kind', () => []],
      ['size', () => []],
      ['state', () => []],
      ['join', () => []],
      ['close', () => []],
      ['terminate', () => []],
      [Symbol.asyncDispose, () => []],
    ];
    // Whatever a call returns is settled (an AsyncResult's outcome, an imap's first item) and judged.
    const settle = async (r: unknown): Promise<unknown> => {
      if (r !== null && typeof r === 'object' && typeof (r as { get?: unknown }).get === 'function' && typeof (r as { wait?: unknown }).wait === 'function') {
        return (r as nd.AsyncResult<unknown>).get();
      }
      if (r !== null && typeof r === 'object' && typeof (r as AsyncIterator<unknown>).next === 'function') {
        const it = r as AsyncIterator<unknown>;
        try {
          return await it.next();
        } finally {
          await it.return?.();
        }
      }
      return r;
    };
    for (const kind of ['process', 'thread', 'serial']) {
      for (const state of ['open', 'closed', 'joined', 'terminated'] as const) {
        const expected = state === 'joined' ? 'closed' : state;
        let current: nd.Pool | undefined;
        const get = async (): Promise<nd.Pool> => {
          if (current === undefined || current.state !== expected) {
            if (current !== undefined) await current.terminate();
            current = make(kind);
            if (state === 'closed') current.close();
            if (state === 'joined') {
              current.close();
              await current.join();
            }
            if (state === 'terminated') await current.terminate();
          }
          return current;
        };
        for (const [member, valid] of members) {
          const name = typeof member === 'symbol' ? member.toString() : member;
          await fuzz(`${kind} pool (${state}).${name}`, valid, async (args) => {
            const p = await get();
            const v = (p as unknown as Record<string | symbol, unknown>)[member];
            return settle(typeof v === 'function' ? (v as (...a: unknown[]) => unknown).apply(p, args) : v);
          });
        }
        await current?.terminate();
      }
    }
    const pools: nd.Pool[] = [];
    const keep = (p: unknown): unknown => {
      if (p !== null && typeof p === 'object' && typeof (p as nd.Pool).terminate === 'function') pools.push(p as nd.Pool);
      return p;
    };
    await fuzz('processPool', () => [{ size: 1, maxTasksPerWorker: 2 }], (a) => keep(nd.processPool(a[0] as nd.PoolOptions)));
    await fuzz('threadPool', () => [{ size: 1, nativeThreads: 0 }], (a) => keep(nd.threadPool(a[0] as nd.PoolOptions)));
    await attempt('new SerialPool', () => keep(new nd.SerialPool()));
    for (const p of pools) await p.terminate();
    await fuzz('defineTask', () => [taskModule, 'add', (x: number) => x], (a) => nd.defineTask(...(a as [string, string, () => unknown])));
    await fuzz('noParallel', () => [() => nd.parallelEnabled()], (a) => nd.noParallel(...(a as [() => unknown])));
    await fuzz('parallelEnabled', () => [], () => nd.parallelEnabled());
    const keys: string[] = [];
    const stored = (k: unknown): unknown => {
      if (typeof k === 'string') keys.push(k);
      return k;
    };
    const fresh = (): string => stored(nd.globStore({ v: 1 })) as string;
    await fuzz('globStore', () => [{ a: 1 }], (a) => stored(nd.globStore(a[0])));
    await fuzz('globRead', () => [fresh()], (a) => nd.globRead(a[0] as string));
    await fuzz('globUpdate', () => [fresh(), 2], (a) => nd.globUpdate(...(a as [string, unknown])));
    await fuzz('globRemove', () => [fresh()], (a) => nd.globRemove(a[0] as string));
    for (const k of keys) {
      try {
        nd.globRemove(k);
      } catch {
        // removed by the matrix
      }
    }
    await fuzz('globStoreAttributes', () => ['a', 'b'], (a) => nd.globStoreAttributes(...(a as string[])));
    await fuzz('globStoreAttributes()(cls, context)', () => [class {}, { kind: 'class', name: 'C', addInitializer: () => undefined }], (a) =>
      (nd.globStoreAttributes('x') as (...x: unknown[]) => unknown)(...a),
    );
    await fuzz('globStored', () => [{ get: () => 1, set: () => undefined }, { kind: 'accessor', name: 'x', static: false, private: false }], (a) =>
      (nd.globStored as (...x: unknown[]) => unknown)(...a),
    );
  });

  it('found nothing but documented NdshmErrors', () => {
    console.log(`# state matrix: ${calls} calls, ${failures.length} not documented NdshmErrors`);
    assert.ok(calls > 10_000, `only ${calls} calls`);
    const lines = failures.slice(0, 40).map((f) => `${f.what}: ${f.error instanceof Error ? `${f.error.name}: ${f.error.message}` : String(f.error)}`);
    assert.deepEqual(lines, [], `${failures.length} calls threw something else than a documented NdshmError`);
  });
});

// Opening a store of 10,000 small arrays (100 groups of 100 float64 arrays of 8 elements) with
// shmToArrays, in a fresh process and in a warm one, against the one-segment-per-array design of
// cute-shm: the same 10,000 arrays each in its own segment, opened one by one (SharedNDArray.open by
// name), the same arrays as a cute-shm store read by ndshm, and read by Python (tomllib +
// multiprocessing.shared_memory, as cute_shm.shm_to_arrays does).

import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';

import { SharedNDArray, arraysToShm, isNdshmError, listStores, unlink } from '../../src/index.js';
import { gcCountsText } from '../lib/gc-counts.js';
import { benchTempDir, expectGone } from '../lib/loads.js';
import { runNodeChild } from '../lib/processes.js';
import { type PythonInfo, pythonInfo, runPython } from '../lib/python.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, none, num, ratio, target } from '../lib/report.js';
import { benchName, isOurs, shmEntries } from '../lib/shm.js';
import { type Summary, median, summarize } from '../lib/stats.js';
import { interleaveAsync } from '../lib/timing.js';

export const title = 'Open a store of 10,000 small arrays';
export const order = 80;

const targetMs = 1000;

/** The soft limit on open files that child processes inherit (ulimit -n). */
function openFileLimit(): string {
  const r = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

// cute_shm.shm_to_arrays (MPI-IS/cute-shm, numpy_shm.py and core.py), with the standard library's
// tomllib for its tomli: parse the TOML, attach every segment with SharedMemory(name) and keep that
// object beside an np.ndarray over its buffer, then (persistent=True, its default) register and
// unregister each with the resource tracker. Imports first and the tracker started before the clock.
// argv: root, project, expected count, fds: 'as-is' (the inherited open-file limit), or 'raised'
// (the limit raised to 2 per array + 256 first: SharedMemory keeps its descriptor and mmap a
// duplicate; if that is not allowed, SharedMemory's own descriptor is closed after each attach).
// On a failure it unregisters what it attached, so that the tracker does not unlink those at exit.
const pythonCuteShm = `
import json, os, resource, sys, time, tomllib
import numpy as np
from multiprocessing import resource_tracker, shared_memory
root, project, expected, fds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
fd_mode = 'as-is'
if fds == 'raised':
    need = 2 * expected + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, max(hard, need)))
            fd_mode = 'raised'
        except (ValueError, OSError):
            fd_mode = 'close-own-fd'
limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
resource_tracker.ensure_running()
attached = []
def read_shm(meta):
    shm = shared_memory.SharedMemory(name=meta['shm_name'])
    attached.append(shm)
    if fd_mode == 'close-own-fd':
        os.close(shm._fd)
        shm._fd = -1
    data = np.ndarray(meta['shape'], np.dtype(meta['dtype']), buffer=shm.buf)
    meta['shm'] = shm
    return {'meta': meta, 'data': data}
def walk(meta_dict, dest):
    for k, v in meta_dict.items():
        if 'shm_name' in v:
            dest[k] = read_shm(v)
        else:
            d = {}
            dest[k] = d
            walk(v, d)
def unregister(meta_dict):
    for k, v in meta_dict.items():
        if 'shm_name' in v:
            resource_tracker.register(v['shm_private_name'], 'shared_memory')
            resource_tracker.unregister(v['shm_private_name'], 'shared_memory')
        else:
            unregister(v)
tree = {}
start = time.perf_counter()
try:
    with open(f'{root}/cute-shm.{project}.toml', 'rb') as f:
        meta_dict = tomllib.load(f)
    walk(meta_dict, tree)
    unregister(meta_dict)
except OSError as e:
    for shm in attached:
        resource_tracker.unregister(shm._name, 'shared_memory')
    print(json.dumps({"error": f"{type(e).__name__} errno {e.errno} ({e.strerror})", "opened": len(attached), "limit": limit}))
    sys.exit(0)
ms = (time.perf_counter() - start) * 1e3
count = 0
for g, group in tree.items():
    for k, leaf in group.items():
        i = int(g[1:]) * 100 + int(k[1:])
        if leaf['data'].shape != (8,) or leaf['data'][0] != 8 * i:
            raise SystemExit(f'{g}/{k}: {leaf["data"]!r}')
        count += 1
del tree, leaf, group
for shm in attached:
    shm.close()
print(json.dumps({"ms": ms, "count": count, "fdMode": fd_mode, "limit": limit}))
`;

interface PythonRead {
  ms?: number;
  count?: number;
  fdMode?: string;
  limit: number;
  error?: string;
  opened?: number;
  /** Segments of the store that were gone after the run (set by the runner). */
  lost?: number;
}

/** What happened to Python with the open-file limit it inherits, and how the timed runs got past it. */
function pythonNote(asIs: PythonRead | undefined, modes: ReadonlySet<string>, count: number, limit: string): string {
  if (asIs === undefined) return 'No Python rows: python3 with numpy is missing.';
  const how = [...modes]
    .map((m) =>
      m.startsWith('raised')
        ? `raised with setrlimit: ${m}`
        : m.startsWith('close-own-fd')
          ? `setrlimit refused to raise the hard limit here, so they close SharedMemory's own descriptor right after each ` +
            `attach and keep mmap's, one descriptor per array: ${m}`
          : `not needed, the inherited limit sufficed: ${m}`,
    )
    .join('; ');
  const first =
    asIs.error !== undefined
      ? `With the open-file limit it inherits (${asIs.limit}; \`ulimit -n\` here: ${limit}), the cute-shm reader in Python failed ` +
        `(one untimed run before the others): ${asIs.error} after attaching ${asIs.opened} of ${count.toLocaleString('en')} ` +
        'segments. CPython ≤ 3.12\'s SharedMemory keeps its file descriptor open and its mmap holds a duplicate, so every ' +
        'array cute-shm keeps attached costs two descriptors. ' +
        (asIs.lost! > 0
          ? `The failed attach also removed ${asIs.lost} segment${asIs.lost === 1 ? '' : 's'} of the store from /dev/shm (counted ` +
            "before and after; that run used a copy of the store): when mmap fails after shm_open, CPython's SharedMemory calls " +
            'its own unlink(), even when it was only attaching.'
          : 'No segment of the store was removed (counted before and after; that run used a copy of the store).')
      : `With the open-file limit it inherits (${asIs.limit}), the cute-shm reader in Python worked (${num(asIs.ms!)} ms, one ` +
        'untimed run before the others).';
  return `${first} The timed Python runs first try to raise the limit to 2 per array + 256 (${how}).`;
}

/** How the timed Python runs got enough descriptors, for the table. */
function pythonFix(modes: ReadonlySet<string>): string {
  if ([...modes].some((m) => m.startsWith('close-own-fd'))) return "SharedMemory's own descriptor closed after each attach";
  if ([...modes].some((m) => m.startsWith('raised'))) return 'its open-file limit raised first';
  return 'within the inherited open-file limit';
}

interface Loop {
  openMs: number[];
  releaseMs: number[];
  gcs: number;
  majorGcs: number;
}

interface LoopSummary {
  open: Summary;
  release: Summary;
  gcs: number[];
  majorGcs: number[];
}

const summarizeLoops = (loops: readonly Loop[]): LoopSummary => ({
  open: summarize(loops.map((l) => median(l.openMs))),
  release: summarize(loops.map((l) => median(l.releaseMs))),
  gcs: loops.map((l) => l.gcs),
  majorGcs: loops.map((l) => l.majorGcs),
});

/** 100 groups g0..g99 (fewer when quick) of 100 arrays a0..a99 of 8 float64s; array i holds 8i..8i+7. */
function makeArrays(groups: number): { arrays: Record<string, Record<string, Float64Array>>; flat: Float64Array[] } {
  const arrays: Record<string, Record<string, Float64Array>> = {};
  const flat: Float64Array[] = [];
  for (let g = 0; g < groups; g++) {
    const group: Record<string, Float64Array> = {};
    for (let k = 0; k < 100; k++) {
      const a = new Float64Array(8);
      for (let e = 0; e < 8; e++) a[e] = (g * 100 + k) * 8 + e;
      group[`a${k}`] = a;
      flat.push(a);
    }
    arrays[`g${g}`] = group;
  }
  return { arrays, flat };
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const groups = options.quick ? 10 : 100;
  const count = groups * 100;
  const runs = options.runs ?? (options.quick ? 2 : 9);
  const warmProcesses = options.quick ? 1 : 3;
  const warmIterations = options.quick ? 5 : 50;
  const segmentIterations = options.quick ? 3 : 10;
  const warmup = options.quick ? 2 : 5;
  const countText = count.toLocaleString('en');
  const py: PythonInfo | string = pythonInfo();
  const { arrays, flat } = makeArrays(groups);

  const temp = benchTempDir('store');
  const storeName = benchName('st');
  const project = benchName('cs');
  const base = `${benchName('o')}-`;
  const separate: SharedNDArray[] = [];
  let storeSegments: string[] = [];
  const cuteProjects: string[] = [];
  try {
    // The store, the cute-shm store, and the 10,000 separate segments; all removed in finally.
    const setup = performance.now();
    const written = arraysToShm(storeName, arrays);
    const writeMs = performance.now() - setup;
    storeSegments = [...new Set(listStores().find((st) => st.name === storeName)?.arrays.map((a) => a.segment) ?? [])];
    if (storeSegments.length !== written.segments) throw new Error(`the store lists ${storeSegments.length} segments, arraysToShm said ${written.segments}`);
    const manifestBytes = statSync(`/dev/shm/store.${storeName}`).size;
    const cuteStart = performance.now();
    const cute = arraysToShm(project, arrays, { format: 'cute-shm', cuteShmRoot: temp.dir });
    const cuteMs = performance.now() - cuteStart;
    cuteProjects.push(project);
    const tomlBytes = statSync(cute.toml!).size;
    // Python, once untimed with the open-file limit it inherits (the timed runs below raise it). Before
    // the separate arrays exist: the runner holds a descriptor per open segment, and the limit is shared.
    let pythonAsIs: PythonRead | undefined;
    if (typeof py !== 'string') {
      // On a copy of the cute-shm store: a failed attach in CPython <= 3.12 unlinks the segment.
      const probe = benchName('cp');
      arraysToShm(probe, arrays, { format: 'cute-shm', cuteShmRoot: temp.dir });
      cuteProjects.push(probe);
      const present = (): number => [...shmEntries()].filter((e) => e.startsWith(`cute-shm.${probe}.`)).length;
      const before = present();
      pythonAsIs = await runPython<PythonRead>(pythonCuteShm, [temp.dir, probe, String(count), 'as-is']);
      pythonAsIs.lost = before - present();
      unlink(probe, { format: 'cute-shm', cuteShmRoot: temp.dir });
      cuteProjects.splice(cuteProjects.indexOf(probe), 1);
    }
    const separateStart = performance.now();
    flat.forEach((a, i) => separate.push(SharedNDArray.from(a, { name: `${base}${i}`, scope: null })));
    const separateMs = performance.now() - separateStart;

    // (a) fresh processes, alternating: the store, the separate segments, the cute-shm store from
    // node and from Python.
    const fresh = { store: [] as number[], segments: [] as number[], cute: [] as number[], python: [] as number[] };
    const child = (mode: string, target: string, into: number[]) => async () => {
      const r = await runNodeChild<{ ms: number }>('store-open.js', [mode, target, String(count), '0', '0', temp.dir]);
      into.push(r.ms);
    };
    const freshTrials = [child('ndshm', storeName, fresh.store), child('segments', base, fresh.segments), child('cute-shm', project, fresh.cute)];
    const pythonModes = new Set<string>();
    if (typeof py !== 'string') {
      freshTrials.push(async () => {
        const r = await runPython<PythonRead>(pythonCuteShm, [temp.dir, project, String(count), 'raised']);
        if (r.error !== undefined || r.count !== count) throw new Error(`python read ${r.count} arrays, expected ${count}: ${r.error}`);
        fresh.python.push(r.ms!);
        pythonModes.add(`${r.fdMode} (limit ${r.limit})`);
      });
    }
    await interleaveAsync(runs, freshTrials);

    // (b) warm processes: repeated opens and releases of the store, and of the separate segments.
    const loops = { store: [] as Loop[], segments: [] as Loop[] };
    const loop = (mode: string, target: string, iterations: number, into: Loop[]) => async () => {
      const args = [mode, target, String(count), String(iterations), String(warmup), temp.dir];
      into.push(await runNodeChild<Loop>('store-open.js', args, { nodeArgs: ['--expose-gc'] }));
    };
    await interleaveAsync(warmProcesses, [loop('ndshm', storeName, warmIterations, loops.store), loop('segments', base, segmentIterations, loops.segments)]);

    const store = summarize(fresh.store);
    const warm = summarizeLoops(loops.store);
    const warmSegments = summarizeLoops(loops.segments);
    const shape = `${groups} groups × 100 float64 arrays of 8 elements`;
    const rows: Row[] = [
      {
        measure: `\`shmToArrays(name)\` of a store of ${countText} arrays (${shape}) in a fresh process (${runs} processes)`,
        ndshm: figure(store, 'ms'),
        alternative:
          `${countText} × \`SharedNDArray.open(name)\`, the same arrays each in its own segment (a one-segment-per-array ` +
          `design, as cute-shm's), fresh process: ${figure(summarize(fresh.segments), 'ms')}`,
        ratio: ratio(store.median, median(fresh.segments), 'time'),
        target: target(`well under 1 s (${num(store.median / 1000)} s)`, store.median < targetMs),
      },
      {
        measure: 'Same',
        ndshm: figure(store, 'ms'),
        alternative:
          `ndshm reading the same arrays written as a cute-shm store (TOML manifest, one segment per array): ` +
          `\`shmToArrays(name, {format: 'cute-shm'})\`, fresh process: ${figure(summarize(fresh.cute), 'ms')}`,
        ratio: ratio(store.median, median(fresh.cute), 'time'),
        target: none,
      },
      {
        measure: 'Same',
        ndshm: figure(store, 'ms'),
        alternative:
          typeof py === 'string'
            ? `${none} (${py})`
            : 'Python reading that cute-shm store as `cute_shm.shm_to_arrays` does (`tomllib`, then ' +
              `${countText} × \`SharedMemory(name)\` kept open + \`np.ndarray\`, then each registered and unregistered with the ` +
              `resource tracker; ${pythonFix(pythonModes)}, see below), fresh process: ${figure(summarize(fresh.python), 'ms')}`,
        ratio: typeof py === 'string' ? none : ratio(store.median, median(fresh.python), 'time'),
        target: none,
      },
      {
        measure: `\`shmToArrays(name)\` in a warm process, median of ${warmIterations} opens (${warmProcesses} processes)`,
        ndshm: figure(warm.open, 'ms'),
        alternative: `${countText} × \`SharedNDArray.open(name)\` of the separate segments, median of ${segmentIterations} rounds: ${figure(warmSegments.open, 'ms')}`,
        ratio: ratio(warm.open.median, warmSegments.open.median, 'time'),
        target: target('well under 1 s', warm.open.median < targetMs),
      },
      {
        measure: '`releaseArrays(tree)` after each open (timed separately)',
        ndshm: figure(warm.release, 'ms'),
        alternative: `\`release()\` of each of the ${countText} separate arrays: ${figure(warmSegments.release, 'ms')}`,
        ratio: ratio(warm.release.median, warmSegments.release.median, 'time'),
        target: none,
      },
      {
        measure: 'GCs during the timed rounds (PerformanceObserver `gc`)',
        ndshm: gcCountsText(warm.gcs, warm.majorGcs),
        alternative: `separate segments: ${gcCountsText(warmSegments.gcs, warmSegments.majorGcs)}`,
        ratio: none,
        target: none,
      },
    ];
    const notes = [
      `The store is written once per run by \`arraysToShm\` in the runner (${num(writeMs)} ms): ${written.segments} data ` +
        `segment${written.segments === 1 ? '' : 's'} (arrays under 1 MiB share pack segments) and a ${manifestBytes}-byte manifest. ` +
        `The same arrays as a cute-shm store (\`format: 'cute-shm'\`, ${cute.segments.toLocaleString('en')} segments and a ${tomlBytes}-byte TOML in a ` +
        `temporary folder) took ${num(cuteMs)} ms to write, and as ${countText} separate arrays (\`SharedNDArray.from(a, {name, ` +
        `scope: null})\`) ${num(separateMs)} ms.`,
      'Fresh processes: node imports the library, python3 imports numpy, tomllib and multiprocessing.shared_memory and starts ' +
        'its resource tracker, before the clock; the figure is the open alone (for Python, reading and parsing the TOML, attaching every ' +
        "segment, and registering and unregistering each with the tracker), every array's first element checked after " +
        `the clock. The four alternate, the order reversed every other round.`,
      pythonNote(pythonAsIs, pythonModes, count, openFileLimit()),
      `Warm processes: ${warmup} untimed rounds and a full GC first; open and release are timed separately; each figure is the ` +
        `median over ${warmProcesses} processes (min–max across them) of that process's per-round median.`,
    ];
    if (typeof py !== 'string') notes.push(`Python ${py.python}, numpy ${py.numpy}.`);
    return { rows, notes };
  } finally {
    for (const a of separate) a.release(); // scope null, created here: this removes them
    try {
      unlink(storeName, { format: 'ndshm' });
    } catch (err) {
      if (!isNdshmError(err, 'ENOENT')) throw err;
    }
    for (const p of cuteProjects) unlink(p, { format: 'cute-shm', cuteShmRoot: temp.dir });
    temp.remove();
    const left = [...shmEntries()].filter((n) => (n.startsWith('cute-shm.') && isOurs(n.slice('cute-shm.'.length))) || n === `store.${storeName}` || n.startsWith(base));
    expectGone([...left, ...storeSegments]);
  }
}

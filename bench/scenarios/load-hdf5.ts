// Loading a 1 GiB float64 HDF5 dataset (contiguous layout) into shared memory with hdf5ToShm (sendfile
// from the dataset's offset in the file), against the first-touch limit (creating and filling that
// much fresh shared memory), against the slab path through h5wasm's heap (the path before, still taken
// by chunked or filtered datasets) and against Python: h5py's f['x'][...] and a copy into
// multiprocessing.shared_memory. The file is written once per run (by h5py with Debian's
// /usr/bin/python3 where it has h5py, else by h5wasm in a node process); warm trials read it through
// first, cold ones drop it from the page cache (posix_fadvise DONTNEED).

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

import { hdf5ToShm } from '../../src/index.js';
import { copyStats, copyTuning } from '../../src/stores/file-copy.js';
import {
  type ChildLoad,
  type PythonLoad,
  benchTempDir,
  checkStore,
  coldText,
  createFillMs,
  dropFromCache,
  emptySamples,
  loadAverage,
  expectGone,
  loadRows,
  pythonLoadScript,
  readThrough,
  residency,
  runPythonWith,
  unlinkIfThere,
  warmupGrowth,
} from '../lib/loads.js';
import { lastJsonLine, runNodeChild, runProcess } from '../lib/processes.js';
import type { ScenarioOptions, ScenarioResult } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { interleaveAsync } from '../lib/timing.js';

export const title = 'Load a 1 GiB HDF5 dataset into shared memory';
export const order = 95;

/** The Python that has h5py on these machines (pyenv's python3 does not). */
const h5pyPython = '/usr/bin/python3';

interface H5pyInfo {
  python: string;
  numpy: string;
  h5py: string;
  hdf5: string;
}

function h5pyInfo(): H5pyInfo | string {
  const code =
    'import json, platform, numpy, h5py; print(json.dumps({"python": platform.python_version(), "numpy": numpy.__version__, ' +
    '"h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version}))';
  const r = spawnSync(h5pyPython, ['-c', code], { encoding: 'utf8' });
  if (r.status === 0) return JSON.parse(r.stdout) as H5pyInfo;
  return `${h5pyPython} with h5py is not available (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
}

// An arange (element i = i) in dataset "x", written slab by slab; no chunks, so HDF5's contiguous
// layout (checked). Synced to disk, so that no write-back runs during the timed loads.
const h5pyWrite = `
import json, os, sys
import numpy as np, h5py
path, n = sys.argv[1], int(sys.argv[2])
with h5py.File(path, 'w') as f:
    d = f.create_dataset('x', shape=(n,), dtype='<f8')
    step = 1 << 21
    for i in range(0, n, step):
        d[i:i + step] = np.arange(i, min(i + step, n), dtype='<f8')
    contiguous = d.id.get_create_plist().get_layout() == h5py.h5d.CONTIGUOUS
fd = os.open(path, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
print(json.dumps({"bytes": os.path.getsize(path), "contiguous": bool(contiguous)}))
`;

// The fallback writer, run as node --input-type=module -e: h5wasm's create_dataset with the whole
// array (no chunks: contiguous). argv: h5wasm's module URL, path, n.
const h5wasmWrite = `
import { closeSync, fsyncSync, openSync, statSync } from 'node:fs';
const [url, path, nArg] = process.argv.slice(1);
const h5 = await import(url);
await h5.ready;
const n = Number(nArg);
const data = new Float64Array(n);
for (let i = 0; i < n; i++) data[i] = i;
const f = new h5.File(path, 'w');
f.create_dataset({ name: 'x', data });
f.close();
const fd = openSync(path, 'r');
fsyncSync(fd);
closeSync(fd);
console.log(JSON.stringify({ bytes: statSync(path).size, contiguous: true }));
`;

async function writeFile(path: string, n: number, withH5py: boolean): Promise<{ bytes: number; contiguous: boolean }> {
  const r = withH5py
    ? await runPythonWith<{ bytes: number; contiguous: boolean }>(h5pyPython, h5pyWrite, [path, String(n)])
    : lastJsonLine<{ bytes: number; contiguous: boolean }>(
        'h5wasm writer',
        await runProcess(process.execPath, ['--input-type=module', '-e', h5wasmWrite, import.meta.resolve('h5wasm/node'), path, String(n)]),
      );
  if (!r.contiguous) throw new Error(`${path}: the dataset is not contiguous`);
  return r;
}

// The figure is the read and the copy into a new SharedMemory (bench/lib/loads.ts).
const h5pyLoad = pythonLoadScript(', h5py', `with h5py.File(path, 'r') as f:
    a = f['x'][...]`);

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const bytes = options.quick ? 2 ** 26 : 2 ** 30;
  const runs = options.runs ?? (options.quick ? 2 : 7);
  const sizeText = options.quick ? `${bytes / 2 ** 20} MiB` : '1 GiB';
  const n = bytes / 8;
  const smallCount = 1 << 18; // 2 MiB: big enough for a segment of its own, as the big array has
  const h5py = h5pyInfo();
  const withH5py = typeof h5py !== 'string';
  if (!withH5py) console.log(`load-hdf5: skipping the h5py rows and writing the file with h5wasm: ${h5py}`);

  const temp = benchTempDir('hdf5');
  const stores = new Set<string>();
  const segments = new Set<string>();
  const pyNames = new Set<string>();
  try {
    const path = join(temp.dir, 'x.h5');
    const smallPath = join(temp.dir, 'small.h5');
    const written = await writeFile(path, n, withH5py);
    await writeFile(smallPath, smallCount, withH5py);
    readThrough(path);
    const cacheBefore = residency(path, written.bytes);

    // Untimed: imports h5wasm, starts this process's cleanup watchdog, compiles the paths.
    for (const direct of [false, true]) {
      const warm = benchName('h5w');
      stores.add(warm);
      copyTuning.hdf5Direct = direct;
      await hdf5ToShm(smallPath, warm);
      copyTuning.hdf5Direct = true;
      for (const s of checkStore(warm, 'x', smallCount)) segments.add(s);
      unlinkIfThere(warm);
    }
    createFillMs(benchName('fillw'), 1 << 16);

    const loadBefore = loadAverage();
    const samples = emptySamples();
    const coldResident: number[] = [];
    const warmCache = (): void => void readThrough(path);
    const cold = async (): Promise<void> => {
      coldResident.push((await dropFromCache(path)) ?? Number.NaN);
    };
    const load = (into: number[], direct: boolean): (() => Promise<void>) => async () => {
      const name = benchName(direct ? 'h5' : 'h5s');
      stores.add(name);
      const before = { ...copyStats };
      copyTuning.hdf5Direct = direct;
      try {
        const start = performance.now();
        await hdf5ToShm(path, name);
        into.push(performance.now() - start);
        const way = direct ? copyStats.hdf5Direct - before.hdf5Direct : copyStats.hdf5Slabs - before.hdf5Slabs;
        if (way !== 1 || (direct && copyStats.sendfile - before.sendfile !== bytes)) throw new Error(`the dataset did not go the ${direct ? 'direct' : 'slab'} way`);
        for (const s of checkStore(name, 'x', n)) segments.add(s);
      } finally {
        copyTuning.hdf5Direct = true;
        unlinkIfThere(name);
      }
    };
    const python = (into: PythonLoad[]): (() => Promise<void>) => async () => {
      const name = benchName('py');
      pyNames.add(name);
      const r = await runPythonWith<PythonLoad>(h5pyPython, h5pyLoad, [path, name]);
      if (r.bytes !== bytes || r.check.join() !== [0, 1, n / 2, n - 1].join()) {
        throw new Error(`h5py loaded ${r.bytes} bytes holding ${r.check.join(', ')}`);
      }
      into.push(r);
    };
    const directWarm = load(samples.runner, true);
    const slabsWarm = load(samples.oldPath, false);
    const directCold = load(samples.runnerCold, true);
    const slabsCold = load(samples.oldPathCold, false);
    const pythonWarm = python(samples.python);
    const pythonCold = python(samples.pythonCold);
    const trials = [
      async () => (warmCache(), await directWarm()),
      async () => (warmCache(), await slabsWarm()),
      async () => void samples.limit.push(createFillMs(benchName('fill'), bytes)),
      async () => {
        warmCache();
        const name = benchName('h5c');
        stores.add(name);
        const r = await runNodeChild<ChildLoad>('load-file.js', ['hdf5', path, smallPath, name, String(n)]);
        if (r.bytes !== bytes) throw new Error(`the child loaded ${r.bytes} bytes, expected ${bytes}`);
        for (const s of r.segments) segments.add(s);
        samples.child.push(r);
      },
      async () => (await cold(), await directCold()),
      async () => (await cold(), await slabsCold()),
    ];
    if (withH5py) {
      trials.push(async () => (warmCache(), await pythonWarm()));
      trials.push(async () => (await cold(), await pythonCold()));
    }
    await interleaveAsync(runs, trials);
    const cacheAfter = residency(path, written.bytes);
    const loadAfter = loadAverage();

    const rows = loadRows(
      samples,
      {
        call: 'await hdf5ToShm(path, name)',
        file: 'HDF5 dataset',
        sizeText,
        oldPath: '`hdf5ToShm` forced onto the slab path (h5wasm reads 4 MiB slabs into its heap, copied from there into the mapped segment: the path before, and still the one for chunked or filtered datasets)',
        python: "Python h5py `f['x'][...]` + `np.copyto` into a new `SharedMemory(create=True, size=nbytes)`, fresh process",
        pythonMissing: withH5py ? undefined : h5py,
        target: 1.1,
      },
      bytes,
    );
    const writer = withH5py
      ? `h5py ${h5py.h5py} (HDF5 ${h5py.hdf5}) under ${h5pyPython} (Python ${h5py.python}, numpy ${h5py.numpy}), slab by slab`
      : `h5wasm in a separate node process (${h5pyPython} has no h5py here)`;
    const notes = [
      `The file (${written.bytes} bytes: one dataset "x", a ${n}-element \`<f8\` arange, contiguous layout, no chunks, no ` +
        `filters) is written once per run by ${writer}, fsync'd, into a fresh folder under os.tmpdir() on the root disk, and ` +
        `read through (untimed) before each warm trial, so those load it from the page cache: resident per fincore ` +
        `${cacheBefore} before the first run and ${cacheAfter} after the last. Before each cold trial the file is dropped from ` +
        `the page cache (\`os.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)\` in a python3 process, untimed): resident afterwards ` +
        `per fincore ${coldText(coldResident)}.`,
      `Per run, alternating (the order reversed every other run): \`hdf5ToShm\` warm, the slab path warm, \`Segment.create\` + ` +
        `first fill, \`hdf5ToShm\` in a fresh node process (warm), \`hdf5ToShm\` and the slab path cold` +
        `${withH5py ? ', and the h5py load warm and cold' : ''}. Each load is checked (elements 0, 1, n/2 and n−1, and which ` +
        'way the dataset went) and its store removed before the next, untimed. The runner first loads a small (2 MiB) HDF5 ' +
        'file both ways, untimed (importing h5wasm, starting its cleanup watchdog, compiling the paths); the fresh node ' +
        `process loads it once before its clock (that warm-up, h5wasm's instantiation included, grew its RSS by ` +
        `${warmupGrowth(samples.child)}).`,
      '`hdf5ToShm` walks the file with h5wasm, finds the dataset\'s object header (an HDF5 object reference is its ' +
        'address), reads its layout message (contiguous, at a given offset, no filters) and has the kernel copy those bytes ' +
        'from the file into the segment with `sendfile(2)`, 16 MiB per call, as `npyToShm` does. The slab path has HDF5 read ' +
        'the dataset slab by slab (4 MiB each) into one scratch buffer in the wasm heap and copies each slab from there into ' +
        'the mapped segment, so every byte is copied twice (page cache → wasm heap → shared memory) and every page of the ' +
        'segment is faulted in by this process. Both yield to the event loop between chunks or slabs.',
      withH5py
        ? "Python times opening the file, `f['x'][...]` (into a private array) and the copy into `SharedMemory` (its resource " +
          'tracker started before the clock; the segment unlinked at the end), so it touches twice the data in fresh memory. ' +
          `Peak RSS growth: VmHWM after the load, less VmRSS just before it. Shared-memory pages count in RSS only once the ` +
          `process has touched them: h5py's figure holds its private copy and the ${sizeText} it copied into SharedMemory; ` +
          "`hdf5ToShm`'s direct path never maps the pages it has the kernel fill (h5wasm's own heap is most of its figure)."
        : `The h5py rows are missing: ${h5py}.`,
    ];
    notes.push(
      `The machine's 1-minute load average was ${loadBefore} when the timed runs began and ${loadAfter} when they ended ` +
        '(other programs share its 2 CPUs; the alternating order spreads such load over every side alike).',
    );
    return { rows, notes };
  } finally {
    for (const s of stores) unlinkIfThere(s);
    temp.remove();
    expectGone([...[...stores].map((s) => `store.${s}`), ...segments, ...pyNames]);
  }
}

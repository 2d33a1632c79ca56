// Loading a 1 GiB float64 .npy file into shared memory with npyToShm (sendfile from the file into the
// segment), against the first-touch limit (creating and filling that much fresh shared memory),
// against its own read() fallback (pread straight into the mapping, the path before sendfile), and
// against Python: np.load + a copy into multiprocessing.shared_memory. Warm: the file is read through
// before each warm trial, so it loads from the page cache; cold: it is dropped from the page cache
// (posix_fadvise DONTNEED) before each cold trial.

import { join } from 'node:path';

import { npyToShm } from '../../src/index.js';
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
import { runNodeChild } from '../lib/processes.js';
import { pythonInfo } from '../lib/python.js';
import type { ScenarioOptions, ScenarioResult } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { interleaveAsync } from '../lib/timing.js';

export const title = 'Load a 1 GiB .npy file into shared memory';
export const order = 90;

// Writes an arange (element i = i) through a memory map, slab by slab, and syncs it to disk, so
// that no write-back runs during the timed loads.
const pythonWrite = `
import json, os, sys
import numpy as np
path, n = sys.argv[1], int(sys.argv[2])
a = np.lib.format.open_memmap(path, mode='w+', dtype='<f8', shape=(n,))
step = 1 << 21
for i in range(0, n, step):
    a[i:i + step] = np.arange(i, min(i + step, n), dtype='<f8')
a.flush()
del a
fd = os.open(path, os.O_RDONLY)
os.fsync(fd)
os.close(fd)
print(json.dumps({"bytes": os.path.getsize(path)}))
`;

// The figure is the read and the copy into a new SharedMemory (bench/lib/loads.ts).
const pythonLoad = pythonLoadScript('', `a = np.load(path)`);

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const bytes = options.quick ? 2 ** 26 : 2 ** 30;
  const runs = options.runs ?? (options.quick ? 2 : 7);
  const sizeText = options.quick ? `${bytes / 2 ** 20} MiB` : '1 GiB';
  const n = bytes / 8;
  const smallCount = 1 << 18; // 2 MiB: big enough for a segment of its own, as the big array has
  const py = pythonInfo();
  if (typeof py === 'string') throw new Error(`load-npy needs python3 with numpy to write its .npy file: ${py}`);

  const temp = benchTempDir('npy');
  const stores = new Set<string>();
  const segments = new Set<string>();
  const pyNames = new Set<string>();
  try {
    const path = join(temp.dir, 'x.npy');
    const smallPath = join(temp.dir, 'small.npy');
    const written = await runPythonWith<{ bytes: number }>('python3', pythonWrite, [path, String(n)]);
    await runPythonWith('python3', pythonWrite, [smallPath, String(smallCount)]);
    readThrough(path);
    const cacheBefore = residency(path, written.bytes);

    // Untimed: the first store starts this process's cleanup watchdog, and the paths get compiled.
    for (const method of ['read', 'auto'] as const) {
      const warm = benchName('npyw');
      stores.add(warm);
      copyTuning.method = method;
      npyToShm(smallPath, warm, { key: 'x' });
      copyTuning.method = 'auto';
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
    const load = (into: number[], method: 'auto' | 'read'): (() => Promise<void>) => async () => {
      const name = benchName(method === 'auto' ? 'npy' : 'npyr');
      stores.add(name);
      const before = { ...copyStats };
      copyTuning.method = method;
      try {
        const start = performance.now();
        npyToShm(path, name, { key: 'x' });
        into.push(performance.now() - start);
        const moved = method === 'auto' ? copyStats.sendfile - before.sendfile : copyStats.read - before.read;
        if (moved !== bytes || copyStats.refused !== before.refused) throw new Error(`${method}: ${moved} bytes went the intended way, expected ${bytes}`);
        for (const s of checkStore(name, 'x', n)) segments.add(s);
      } finally {
        copyTuning.method = 'auto';
        unlinkIfThere(name);
      }
    };
    const python = (into: PythonLoad[]): (() => Promise<void>) => async () => {
      const name = benchName('py');
      pyNames.add(name);
      const r = await runPythonWith<PythonLoad>('python3', pythonLoad, [path, name]);
      if (r.bytes !== bytes || r.check.join() !== [0, 1, n / 2, n - 1].join()) {
        throw new Error(`python loaded ${r.bytes} bytes holding ${r.check.join(', ')}`);
      }
      into.push(r);
    };
    const sendfileWarm = load(samples.runner, 'auto');
    const readWarm = load(samples.oldPath, 'read');
    const sendfileCold = load(samples.runnerCold, 'auto');
    const readCold = load(samples.oldPathCold, 'read');
    const pythonWarm = python(samples.python);
    const pythonCold = python(samples.pythonCold);
    await interleaveAsync(runs, [
      async () => (warmCache(), await sendfileWarm()),
      async () => (warmCache(), await readWarm()),
      async () => void samples.limit.push(createFillMs(benchName('fill'), bytes)),
      async () => {
        warmCache();
        const name = benchName('npyc');
        stores.add(name);
        const r = await runNodeChild<ChildLoad>('load-file.js', ['npy', path, smallPath, name, String(n)]);
        if (r.bytes !== bytes) throw new Error(`the child loaded ${r.bytes} bytes, expected ${bytes}`);
        for (const s of r.segments) segments.add(s);
        samples.child.push(r);
      },
      async () => (warmCache(), await pythonWarm()),
      async () => (await cold(), await sendfileCold()),
      async () => (await cold(), await readCold()),
      async () => (await cold(), await pythonCold()),
    ]);
    const cacheAfter = residency(path, written.bytes);
    const loadAfter = loadAverage();

    const rows = loadRows(
      samples,
      {
        call: 'npyToShm(path, name)',
        file: '.npy',
        sizeText,
        oldPath: '`npyToShm` forced onto its `read()` fallback (`pread` straight into the mapped segment, 16 MiB at a time, as every load did before sendfile)',
        python: 'Python `np.load(path)` + `np.copyto` into a new `SharedMemory(create=True, size=nbytes)`, fresh process',
        pythonMissing: undefined,
        target: 1.2,
      },
      bytes,
    );
    const notes = [
      `The file (${written.bytes} bytes: a ${n}-element \`<f8\` arange and its .npy header) is written once per run by numpy ` +
        `${py.numpy} (\`np.lib.format.open_memmap\`, then fsync) into a fresh folder under os.tmpdir() on the root disk, and read ` +
        `through (untimed) before each warm trial, so those load it from the page cache: resident per fincore ${cacheBefore} ` +
        `before the first run and ${cacheAfter} after the last. Before each cold trial the file is dropped from the page cache ` +
        `(\`os.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)\` in a python3 process, untimed): resident afterwards per fincore ` +
        `${coldText(coldResident)}; those loads read the disk (a virtio disk of this VM).`,
      `Per run, alternating (the order reversed every other run): \`npyToShm\` warm, its read() fallback warm, ` +
        '`Segment.create` + first fill, `npyToShm` in a fresh node process (warm), the Python load (warm), then `npyToShm`, its ' +
        'read() fallback and the Python load cold. Each load is checked (elements 0, 1, n/2 and n−1, and which way its bytes ' +
        'went) and its store removed before the next, untimed. The runner first loads a small (2 MiB) .npy once, untimed ' +
        '(starting its cleanup watchdog and compiling the path); the fresh node process does the same before its clock (that ' +
        `warm-up grew its RSS by ${warmupGrowth(samples.child)}).`,
      '`npyToShm` reads and checks the header, creates the store\'s segment (`posix_fallocate` reserves the memory, as in ' +
        '`Segment.create`), has the kernel copy the payload from the file into the segment\'s descriptor with `sendfile(2)`, ' +
        '16 MiB per call (no page faults in the process: page-cache pages are copied into the tmpfs pages), and publishes the ' +
        'manifest. The read() fallback (taken where the kernel refuses sendfile; forced here through an internal switch) ' +
        '`pread`s into the mapped segment instead, which faults every page in. Python times `np.load` (into a private array) ' +
        'and the copy into `SharedMemory` (its resource tracker started before the clock; the segment unlinked at the end), ' +
        'so it touches twice the data in fresh memory.',
      `Peak RSS growth: VmHWM from /proc/self/status after the load, less VmRSS just before it. Shared-memory pages count in ` +
        `RSS only once the process has touched them: Python's figure holds np.load's private copy and the ${sizeText} it ` +
        'copied into SharedMemory; `npyToShm` never maps the pages it has the kernel fill, so its figure is what the load ' +
        'itself allocates.',
      `Python ${py.python}, numpy ${py.numpy}.`,
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

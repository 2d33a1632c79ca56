// Loading a 1 GiB float64 .npy file into shared memory with npyToShm, against the first-touch limit
// (creating and filling that much fresh shared memory) and against Python: np.load + a copy into
// multiprocessing.shared_memory. The file is written once per run by numpy and read once before the
// clock, so every load reads from the page cache.

import { join } from 'node:path';

import { npyToShm } from '../../src/index.js';
import {
  type ChildLoad,
  type LoadSamples,
  type PythonLoad,
  benchTempDir,
  checkStore,
  createFillMs,
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
    const warm = benchName('npyw');
    stores.add(warm);
    npyToShm(smallPath, warm, { key: 'x' });
    for (const s of checkStore(warm, 'x', smallCount)) segments.add(s);
    unlinkIfThere(warm);
    createFillMs(benchName('fillw'), 1 << 16);

    const samples: LoadSamples = { runner: [], limit: [], child: [], python: [] };
    await interleaveAsync(runs, [
      async () => {
        const name = benchName('npy');
        stores.add(name);
        try {
          const start = performance.now();
          npyToShm(path, name, { key: 'x' });
          samples.runner.push(performance.now() - start);
          for (const s of checkStore(name, 'x', n)) segments.add(s);
        } finally {
          unlinkIfThere(name);
        }
      },
      async () => void samples.limit.push(createFillMs(benchName('fill'), bytes)),
      async () => {
        const name = benchName('npyc');
        stores.add(name);
        const r = await runNodeChild<ChildLoad>('load-file.js', ['npy', path, smallPath, name, String(n)]);
        if (r.bytes !== bytes) throw new Error(`the child loaded ${r.bytes} bytes, expected ${bytes}`);
        for (const s of r.segments) segments.add(s);
        samples.child.push(r);
      },
      async () => {
        const name = benchName('py');
        pyNames.add(name);
        const r = await runPythonWith<PythonLoad>('python3', pythonLoad, [path, name]);
        if (r.bytes !== bytes || r.check.join() !== [0, 1, n / 2, n - 1].join()) {
          throw new Error(`python loaded ${r.bytes} bytes holding ${r.check.join(', ')}`);
        }
        samples.python.push(r);
      },
    ]);
    const cacheAfter = residency(path, written.bytes);

    const rows = loadRows(
      samples,
      {
        call: 'npyToShm(path, name)',
        file: '.npy',
        sizeText,
        python: 'Python `np.load(path)` + `np.copyto` into a new `SharedMemory(create=True, size=nbytes)`, fresh process',
        pythonMissing: undefined,
      },
      bytes,
    );
    const notes = [
      `The file (${written.bytes} bytes: a ${n}-element \`<f8\` arange and its .npy header) is written once per run by numpy ` +
        `${py.numpy} (\`np.lib.format.open_memmap\`, then fsync) into a fresh folder under os.tmpdir() on the root disk, and read ` +
        `through once before the first timed load, so every load reads it from the page cache: resident per fincore ${cacheBefore} ` +
        `before the first run and ${cacheAfter} after the last. These are warm-cache loads; a cold cache adds the disk.`,
      `Per run, alternating (the order reversed every other run): \`npyToShm\` in the runner, \`Segment.create\` + first fill in ` +
        'the runner, `npyToShm` in a fresh node process, and the Python load in a fresh process. Each load is checked (elements ' +
        '0, 1, n/2 and n−1) and its store removed before the next, untimed. The runner first loads a small (2 MiB) .npy ' +
        'once, untimed (starting its cleanup watchdog and compiling the path); the fresh node process does the same before ' +
        `its clock (that warm-up grew its RSS by ${warmupGrowth(samples.child)}).`,
      '`npyToShm` reads the header, creates the store\'s segment (`posix_fallocate` reserves the memory, as in ' +
        '`Segment.create`), `readSync`s the payload straight into the mapped segment 16 MiB at a time, and publishes the ' +
        'manifest. Python times `np.load` (into a private array) and the copy into `SharedMemory` (its resource tracker ' +
        'started before the clock; the segment unlinked at the end), so it touches twice the data in fresh memory.',
      `Peak extra memory: VmHWM from /proc/self/status after the load, less VmRSS just before it, less the ${sizeText} of ` +
        "shared memory the process wrote (it counts in RSS while mapped). For Python that is np.load's private copy. A " +
        'figure at or below 0 means nothing beyond the destination (RSS can also shrink a little meanwhile).',
      `Python ${py.python}, numpy ${py.numpy}.`,
    ];
    return { rows, notes };
  } finally {
    for (const s of stores) unlinkIfThere(s);
    temp.remove();
    expectGone([...[...stores].map((s) => `store.${s}`), ...segments, ...pyNames]);
  }
}

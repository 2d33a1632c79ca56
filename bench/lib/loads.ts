// Shared by the file-loading scenarios (load-npy, load-hdf5): a private temp folder for the input
// files, warming and checking the page cache, the first-touch limit (Segment.create + first fill),
// a process's peak memory from /proc, Python run with a chosen interpreter, and the rows both
// scenarios print.

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Segment, isNdshmError, releaseArrays, shmToArrays, unlink } from '../../src/index.js';
import { lastJsonLine, runProcess } from './processes.js';
import { type Row, figure, gbPerSecond, none, num, ratio, target } from './report.js';
import { shmEntries } from './shm.js';
import { type Summary, summarize } from './stats.js';

/** A fresh folder under os.tmpdir() for this run's files; remove() deletes it and all it holds. */
export function benchTempDir(tag: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `ndshm-bench-${tag}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reads the whole file once (16 MiB at a time), so that its pages are in the page cache. */
export function readThrough(path: string): number {
  const fd = openSync(path, 'r');
  const buffer = Buffer.allocUnsafe(16 << 20);
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, buffer, 0, buffer.length, total);
      if (n === 0) return total;
      total += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** The bytes of the file in the page cache (util-linux fincore), or undefined without fincore. */
export function residentBytes(path: string): number | undefined {
  const r = spawnSync('fincore', ['--bytes', '--noheadings', '--output', 'RES', path], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  const n = Number(r.stdout.trim());
  return Number.isFinite(n) ? n : undefined;
}

/** "1.000 GiB of 1.000 GiB" or why it is unknown. */
export function residency(path: string, size: number): string {
  const res = residentBytes(path);
  if (res === undefined) return 'unknown (no fincore)';
  return `${(res / 2 ** 30).toFixed(3)} of ${(size / 2 ** 30).toFixed(3)} GiB`;
}

/** The first-touch limit: Segment.create + first fill of `size` bytes of fresh shared memory; ms. */
export function createFillMs(name: string, size: number): number {
  let segment: Segment | undefined;
  try {
    const start = performance.now();
    segment = Segment.create(name, size);
    new Float64Array(segment.buffer).fill(1);
    return performance.now() - start;
  } finally {
    if (segment !== undefined) {
      segment.close();
      Segment.unlink(name);
    }
  }
}

/** VmRSS and VmHWM of this process, in bytes. */
export function readStatus(): { rss: number; hwm: number } {
  const fd = openSync('/proc/self/status', 'r');
  try {
    const buffer = Buffer.alloc(1 << 16);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    const text = buffer.toString('utf8', 0, n);
    const field = (key: string): number => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(text);
      if (m === null) throw new Error(`/proc/self/status has no ${key}`);
      return Number(m[1]) * 1024;
    };
    return { rss: field('VmRSS'), hwm: field('VmHWM') };
  } finally {
    closeSync(fd);
  }
}

/** Python code: a status() that returns VmRSS and VmHWM of the python process, in bytes. */
export const pythonStatus = `
def status():
    out = {}
    with open('/proc/self/status') as f:
        for line in f:
            key, _, value = line.partition(':')
            if key in ('VmRSS', 'VmHWM'):
                out[key] = int(value.split()[0]) * 1024
    return out
`;

/** Runs `code` with `python` (a path or a command); its last stdout line is the JSON result. */
export async function runPythonWith<T>(python: string, code: string, args: readonly string[]): Promise<T> {
  const r = await runProcess(python, ['-c', code, ...args]);
  return lastJsonLine<T>(python, r);
}

/** Element values the input files hold: element i is i (exact in float64). */
export function checkArange(what: string, a: Float64Array, n: number): void {
  for (const i of [0, 1, Math.floor(n / 2), n - 1]) {
    if (a[i] !== i) throw new Error(`${what}: element ${i} is ${a[i]}, expected ${i}`);
  }
  if (a.length !== n) throw new Error(`${what}: ${a.length} elements, expected ${n}`);
}

/** Opens the store `name`, checks its array `key` (an arange of n), returns its segments; untimed. */
export function checkStore(name: string, key: string, n: number): string[] {
  const tree = shmToArrays(name);
  try {
    const leaf = tree[key] as { data: { data: unknown }; meta: { segment: string } } | undefined;
    if (leaf === undefined) throw new Error(`store ${name} has no array "${key}"`);
    checkArange(`store ${name}`, leaf.data.data as Float64Array, n);
    return [leaf.meta.segment];
  } finally {
    releaseArrays(tree);
  }
}

/** Removes the store if it exists (for finally blocks). */
export function unlinkIfThere(name: string): void {
  try {
    unlink(name, { format: 'ndshm' });
  } catch (err) {
    if (!isNdshmError(err, 'ENOENT')) throw err;
  }
}

/** Throws if any of these /dev/shm names (manifests, segments) still exists. */
export function expectGone(names: Iterable<string>): void {
  const present = shmEntries();
  const left = [...names].filter((n) => present.has(n) || existsSync(`/dev/shm/${n}`));
  if (left.length > 0) throw new Error(`left in /dev/shm: ${left.join(', ')}`);
}

/** What a fresh node load child (bench/children/load-file.ts) reports. */
export interface ChildLoad {
  ms: number;
  /** RSS just after importing the library, before the warm-up load. */
  rssAfterImport: number;
  /** RSS just before the timed load (after the warm-up). */
  rssBefore: number;
  /** VmHWM after the timed load. */
  hwmAfter: number;
  bytes: number;
  segments: string[];
}

/** What the Python alternatives report. */
export interface PythonLoad {
  ms: number;
  rssBefore: number;
  hwmAfter: number;
  bytes: number;
  check: number[];
}

export interface LoadSamples {
  /** The ndshm loader in the runner, its default path (sendfile / direct), warm page cache. */
  runner: number[];
  /** The same loader forced onto the old path (read() into the mapping / h5wasm slabs), warm. */
  oldPath: number[];
  /** Segment.create + first fill in the runner. */
  limit: number[];
  /** The ndshm loader in a fresh node process, warm. */
  child: ChildLoad[];
  /** The Python alternative in a fresh process, warm (empty when skipped). */
  python: PythonLoad[];
  /** The same three after the file was dropped from the page cache (posix_fadvise DONTNEED). */
  runnerCold: number[];
  oldPathCold: number[];
  pythonCold: PythonLoad[];
}

export const emptySamples = (): LoadSamples => ({ runner: [], oldPath: [], limit: [], child: [], python: [], runnerCold: [], oldPathCold: [], pythonCold: [] });

const mib = (bytes: number): number => bytes / 2 ** 20;

function mibFigure(s: Summary): string {
  return `${num(s.median)} MiB (${num(s.min)}–${num(s.max)})`;
}

export interface LoadRowText {
  /** The ndshm call, e.g. "npyToShm(path, name)". */
  call: string;
  /** "float64 .npy" and the like. */
  file: string;
  sizeText: string;
  /** The old path, as the alternative column names it. */
  oldPath: string;
  python: string;
  pythonMissing: string | undefined;
  /** Target throughput ratio against the first-touch limit (warm). */
  target: number;
}

/** The rows the two load scenarios print: warm, then cold, each against the same alternatives. */
export function loadRows(s: LoadSamples, text: LoadRowText, bytes: number): Row[] {
  const cell = (values: number[]): string => {
    const t = summarize(values);
    return `${figure(t, 'ms')}; ${num(gbPerSecond(bytes, t.median))} GB/s`;
  };
  const med = (values: number[]): number => summarize(values).median;
  const limitText = `first-touch limit, \`Segment.create\` + first \`new Float64Array(seg.buffer).fill(1)\` of ${text.sizeText}: ${cell(s.limit)}`;
  const pyMs = (p: PythonLoad[]): number[] => p.map((x) => x.ms);
  const pyCell = (p: PythonLoad[]): string => (p.length === 0 ? `${none} (${text.pythonMissing})` : `${text.python}: ${cell(pyMs(p))}`);
  const pyRatio = (ours: number[], p: PythonLoad[]): string => (p.length === 0 ? none : ratio(med(ours), med(pyMs(p)), 'time'));
  const throughput = (ours: number[], theirs: number[]): string => ratio(med(theirs), med(ours), 'throughput');
  const runs = s.runner.length;
  const warmRatio = med(s.limit) / med(s.runner);
  const rows: Row[] = [
    {
      measure: `\`${text.call}\` of a ${text.sizeText} ${text.file} (warm page cache) into a new store, in the runner (${runs} runs)`,
      ndshm: cell(s.runner),
      alternative: limitText,
      ratio: throughput(s.runner, s.limit),
      target: target(`≥ ${text.target}× the throughput`, warmRatio >= text.target),
    },
    { measure: 'Same', ndshm: cell(s.runner), alternative: `${text.oldPath}: ${cell(s.oldPath)}`, ratio: throughput(s.runner, s.oldPath), target: none },
    { measure: 'Same', ndshm: cell(s.runner), alternative: pyCell(s.python), ratio: pyRatio(s.runner, s.python), target: none },
    {
      measure: `\`${text.call}\` in a fresh node process (library imported and a small file of the same kind loaded before the clock; ${runs} processes; warm)`,
      ndshm: cell(s.child.map((c) => c.ms)),
      alternative: pyCell(s.python),
      ratio: pyRatio(s.child.map((c) => c.ms), s.python),
      target: none,
    },
    {
      measure: `Same load as the first row with a cold page cache (the file dropped with \`posix_fadvise(DONTNEED)\` before each run; ${runs} runs)`,
      ndshm: cell(s.runnerCold),
      alternative: limitText,
      ratio: throughput(s.runnerCold, s.limit),
      target: none,
    },
    { measure: 'Same (cold)', ndshm: cell(s.runnerCold), alternative: `${text.oldPath}, cold: ${cell(s.oldPathCold)}`, ratio: throughput(s.runnerCold, s.oldPathCold), target: none },
    {
      measure: 'Same (cold)',
      ndshm: cell(s.runnerCold),
      alternative: s.pythonCold.length === 0 ? `${none} (${text.pythonMissing})` : `${text.python}, cold: ${cell(pyMs(s.pythonCold))}`,
      ratio: pyRatio(s.runnerCold, s.pythonCold),
      target: none,
    },
  ];
  const extra = (hwm: number, before: number): number => mib(hwm - before);
  const childExtra = summarize(s.child.map((c) => extra(c.hwmAfter, c.rssBefore)));
  const pyExtra = s.python.length > 0 ? summarize(s.python.map((p) => extra(p.hwmAfter, p.rssBefore))) : undefined;
  rows.push({
    measure:
      "Peak RSS growth of the load: the process's peak RSS (VmHWM) after it, less its RSS just before it (shared-memory " +
      `pages count only when the process touched them; ${text.sizeText} of data; fresh processes, warm, as above)`,
    ndshm: mibFigure(childExtra),
    alternative: pyExtra === undefined ? `${none} (${text.pythonMissing})` : `${text.python}: ${mibFigure(pyExtra)}`,
    ratio: pyExtra === undefined || pyExtra.median <= 0 || childExtra.median <= 0 ? none : `${num(childExtra.median / pyExtra.median)}× the memory`,
    target: none,
  });
  return rows;
}

/**
 * Drops the file from the page cache (posix_fadvise POSIX_FADV_DONTNEED, through python3's os
 * module; the file is clean, so every page can go) and returns its resident bytes afterwards.
 */
export async function dropFromCache(path: string): Promise<number | undefined> {
  const code = 'import os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY)\nos.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)\nos.close(fd)\nprint("{}")';
  await runPythonWith('python3', code, [path]);
  return residentBytes(path);
}

/** Median RSS growth of the child's warm-up load, in MiB (for the notes). */
export function warmupGrowth(child: readonly ChildLoad[]): string {
  return mibFigure(summarize(child.map((c) => mib(c.rssBefore - c.rssAfterImport))));
}

/**
 * A fresh Python's load of `path` (by `read`, which leaves the array in `a`) and its copy into a new
 * SharedMemory `name`; imports first and the resource tracker started before the clock. Prints the
 * time, memory and a few values as one JSON line; unlink() at the end also unregisters the segment.
 */
export function pythonLoadScript(imports: string, read: string): string {
  return `
import json, sys, time
import numpy as np${imports}
from multiprocessing import resource_tracker, shared_memory
${pythonStatus}
path, name = sys.argv[1], sys.argv[2]
if sys.version_info < (3, 13):
    resource_tracker.ensure_running()
before = status()
start = time.perf_counter()
${read}
shm = shared_memory.SharedMemory(name=name, create=True, size=a.nbytes)
b = np.ndarray(a.shape, a.dtype, buffer=shm.buf)
np.copyto(b, a)
ms = (time.perf_counter() - start) * 1e3
after = status()
n = int(b.size)
check = [float(b[0]), float(b[1]), float(b[n // 2]), float(b[n - 1])]
nbytes = int(b.nbytes)
del b
shm.close()
shm.unlink()
print(json.dumps({"ms": ms, "rssBefore": before["VmRSS"], "hwmAfter": after["VmHWM"], "bytes": nbytes, "check": check}))
`;
}

/** "0.000–0.001 GiB": the file's resident bytes after each drop from the page cache. */
export function coldText(resident: number[]): string {
  if (resident.length === 0 || resident.some(Number.isNaN)) return 'unknown (no fincore)';
  const gib = (b: number): string => (b / 2 ** 30).toFixed(3);
  return `${gib(Math.min(...resident))}–${gib(Math.max(...resident))} GiB`;
}

/** The 1-minute load average (from /proc/loadavg): other programs sharing this machine's CPUs. */
export function loadAverage(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ')[0] ?? '?';
  } catch {
    return '?';
  }
}

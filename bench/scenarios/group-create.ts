// Collective createSharedNdarray with zeroOut, 2 members, 1 MiB and 64 MiB: ndshm's host group
// against pyGSTi's own create logic (sharedmemtools.create_shared_ndarray, rewritten below from its
// documented behaviour) run under mpirun with mpi4py, in the same run.

import { spawnSync } from 'node:child_process';

import { Forked, killAll } from '../lib/forked.js';
import { benchGroupName, leavingNothing } from '../lib/group.js';
import { runProcess } from '../lib/processes.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, none, ratio, target } from '../lib/report.js';
import { median, summarize } from '../lib/stats.js';

export const title = 'Host group: collective createSharedNdarray (zeroOut) against pyGSTi under mpirun';
export const order = 91;

const python = '/usr/bin/python3';
const MiB = 2 ** 20;

// pyGSTi 0.10.2's create_shared_ndarray and cleanup_shared_ndarray (research/pools-sync.md §3.1):
// rank 0 creates a multiprocessing SharedMemory and broadcasts its name, the others attach, a barrier,
// then every rank wraps it and (zero_out) fills it with zeros. Each iteration: a barrier, then the
// timed create on every rank; rank 0 gathers the per-iteration times.
const pygsti = String.raw`
import json, sys, time
import numpy as np
from mpi4py import MPI
from multiprocessing import shared_memory, resource_tracker

def create_shared_ndarray(hostcomm, shape, dtype, zero_out=False):
    nelements = int(np.prod(shape))
    nbytes = nelements * np.dtype(dtype).itemsize
    if hostcomm.rank == 0:
        shm = shared_memory.SharedMemory(create=True, size=nbytes)
        assert shm.size >= nbytes
        hostcomm.bcast(shm.name, root=0)
    else:
        shm = shared_memory.SharedMemory(name=hostcomm.bcast(None, root=0))
        assert shm.size >= nbytes
    hostcomm.barrier()
    ar = np.ndarray(shape, dtype=dtype, buffer=shm.buf)
    if zero_out:
        ar.fill(0)
    return ar, shm

def cleanup_shared_ndarray(shm):
    if shm is not None:
        shm.close()
        try:
            shm.unlink()
        except FileNotFoundError:
            resource_tracker.unregister('/' + shm.name, 'shared_memory')

comm = MPI.COMM_WORLD
hostcomm = comm.Split_type(MPI.COMM_TYPE_SHARED)
nbytes, iterations, zero_out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == '1'
times = []
for _ in range(iterations):
    hostcomm.barrier()
    t = time.perf_counter()
    ar, shm = create_shared_ndarray(hostcomm, (nbytes // 8,), 'd', zero_out)
    times.append((time.perf_counter() - t) * 1e6)
    del ar
    hostcomm.barrier()
    cleanup_shared_ndarray(shm)
every = hostcomm.gather(times, root=0)
if hostcomm.rank == 0:
    print(json.dumps({'us': [max(x) for x in zip(*every)], 'mpi': MPI.Get_library_version().splitlines()[0].strip()}))
`;

interface MpiInfo {
  readonly ok: boolean;
  readonly why?: string;
  readonly versions?: string;
}

function mpiInfo(): MpiInfo {
  const r = spawnSync(python, ['-c', 'import mpi4py, numpy; print(mpi4py.__version__, numpy.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) return { ok: false, why: `${python} with mpi4py and numpy is not available` };
  const m = spawnSync('mpirun', ['--version'], { encoding: 'utf8' });
  if (m.status !== 0) return { ok: false, why: 'mpirun is not available (Debian: openmpi-bin)' };
  const [mpi4py, numpy] = r.stdout.trim().split(' ');
  return { ok: true, versions: `mpi4py ${mpi4py}, numpy ${numpy}, ${m.stdout.split('\n')[0]!.trim()}` };
}

/** pyGSTi's logic: per-iteration µs (the slower rank), warm-up iterations dropped. */
async function pygstiRun(bytes: number, iterations: number, warmup: number, zeroOut: boolean): Promise<number[]> {
  const r = await runProcess(
    'mpirun',
    ['--allow-run-as-root', '--oversubscribe', '--mca', 'btl', 'self,vader', '-n', '2', python, '-c', pygsti, String(bytes), String(iterations + warmup), zeroOut ? '1' : '0'],
    { ...process.env, OMPI_MCA_btl_vader_single_copy_mechanism: 'none' },
  );
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`mpirun failed (code ${r.code}):\n${r.stderr || r.stdout}`);
  return (JSON.parse(line) as { us: number[] }).us.slice(warmup);
}

/** ndshm: 2 processes of one host group; per-iteration µs (the slower member), warm-up dropped. */
async function ndshmRun(bytes: number, iterations: number, warmup: number): Promise<number[]> {
  const name = benchGroupName('cr');
  const children = [0, 1].map(() => new Forked('group-member.js'));
  try {
    children.forEach((c, rank) => c.send({ op: 'create', name, size: 2, rank, bytes, iterations: iterations + warmup }));
    for (const c of children) await c.next();
    for (const c of children) c.send({ go: true });
    const [a, b] = await Promise.all(children.map((c) => c.next<{ us: number[] }>()));
    await Promise.all(children.map((c) => c.exited()));
    return a!.us.map((x, i) => Math.max(x, b!.us[i]!)).slice(warmup);
  } finally {
    await killAll(children);
  }
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const runs = options.runs ?? (options.quick ? 1 : 3);
  const mpi = mpiInfo();
  const rows: Row[] = [];
  const notes: string[] = [];
  for (const [bytes, iterations, goal] of [[MiB, options.quick ? 20 : 200, 0.5], [64 * MiB, options.quick ? 3 : 20, 0.25]] as const) {
    const size = `${bytes / MiB} MiB`;
    const warmup = options.quick ? 1 : 3;
    const ours: number[] = [];
    const theirs: number[] = [];
    const theirsNoZero: number[] = [];
    for (let r = 0; r < runs; r++) {
      const trials: (() => Promise<void>)[] = [
        async () => void ours.push(median(await leavingNothing(() => ndshmRun(bytes, iterations, warmup)))),
      ];
      if (mpi.ok) {
        trials.push(async () => void theirs.push(median(await pygstiRun(bytes, iterations, warmup, true))));
        trials.push(async () => void theirsNoZero.push(median(await pygstiRun(bytes, iterations, warmup, false))));
      }
      for (const t of r % 2 === 0 ? trials : [...trials].reverse()) await t();
    }
    const o = summarize(ours);
    if (!mpi.ok) {
      rows.push({ measure: `2 members, ${size} float64, zeroOut: µs per collective create`, ndshm: figure(o, 'µs'), alternative: `not measured: ${mpi.why}`, ratio: none, target: none });
      continue;
    }
    const t = summarize(theirs);
    rows.push({
      measure: `2 members, ${size} float64, zeroOut: µs per collective create, the slower member (median of ${iterations} × ${runs} runs)`,
      ndshm: figure(o, 'µs'),
      alternative: `pyGSTi's create_shared_ndarray(zero_out=True) under mpirun -n 2: ${figure(t, 'µs')}`,
      ratio: ratio(o.median, t.median, 'time'),
      target: target(`≤ ${goal}× pyGSTi`, o.median <= goal * t.median),
    });
    rows.push({
      measure: `Same, pyGSTi with zero_out=False (no fill: what its MPI exchange and attach cost alone)`,
      ndshm: none,
      alternative: figure(summarize(theirsNoZero), 'µs'),
      ratio: ratio(o.median, median(theirsNoZero), 'time'),
      target: none,
    });
  }
  notes.push(
    'Each iteration: a barrier of the group (MPI: hostcomm.barrier()), then the timed collective create on both members, ' +
      'then cleanup (not timed). The figure is the slower member\'s time per iteration, median over the iterations of a run; ' +
      'the first iterations of each run are dropped (warm-up); runs alternate between the two.',
    'ndshm: rank 0 creates the segment (shm_open O_EXCL, posix_fallocate: the pages are reserved and zeroed by the kernel, ' +
      'so zeroOut costs nothing) and its handle travels in the round of the group barrier that also checks both members\' ' +
      'arguments; rank 1 attaches. pyGSTi: rank 0 creates a multiprocessing SharedMemory (ftruncate only), mpi4py broadcasts ' +
      'the name, rank 1 attaches, a barrier, then both ranks fill the whole array with zeros (first touch of every page, on ' +
      'both ranks at once, with no barrier after it: the race the docs describe).',
    `pyGSTi side: ${mpi.ok ? mpi.versions : mpi.why}; the logic is pyGSTi 0.10.2's sharedmemtools, rewritten in the scenario ` +
      "(bench/scenarios/group-create.ts); Open MPI's shared-memory transport (btl self,vader).",
  );
  return { rows, notes };
}

// Mutex: uncontended lock+unlock against the same glibc mutex driven from C (bench/c/robust-mutex.c),
// 2 processes contending against 2 C processes, and the cross-process handoff (unlock in one process
// until lock() resolves in another) against a child_process IPC round trip.

import { setTimeout as sleep } from 'node:timers/promises';

import { Mutex, Segment } from '../../src/index.js';
import { type CProgram, compileC } from '../lib/c-program.js';
import { Forked, killAll } from '../lib/forked.js';
import { observeGc } from '../lib/gc.js';
import { gcCountsText } from '../lib/gc-counts.js';
import { runProcess, lastJsonLine } from '../lib/processes.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, none, num, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { summarize } from '../lib/stats.js';

export const title = 'Mutex: lock and unlock, contended and handed over between processes';
export const order = 80;

interface Uncontended {
  lockNs: number[];
  tryNs: number[];
  gcs: number[];
  majorGcs: number[];
  cLockNs: number[];
  cTryNs: number[];
}

async function uncontended(runs: number, iterations: number, c: CProgram | string): Promise<Uncontended> {
  const m = Mutex.create({ name: benchName('mutex') });
  const out: Uncontended = { lockNs: [], tryNs: [], gcs: [], majorGcs: [], cLockNs: [], cTryNs: [] };
  const lockLoop = (n: number): void => {
    for (let i = 0; i < n; i++) {
      m.lockSync();
      m.unlock();
    }
  };
  const tryLoop = (n: number): void => {
    for (let i = 0; i < n; i++) {
      if (m.tryLock() !== null) m.unlock();
    }
  };
  try {
    lockLoop(iterations / 10);
    tryLoop(iterations / 10);
    for (let r = 0; r < runs; r++) {
      const gc = observeGc();
      gc.start();
      let t = performance.now();
      lockLoop(iterations);
      out.lockNs.push(((performance.now() - t) * 1e6) / iterations);
      t = performance.now();
      tryLoop(iterations);
      out.tryNs.push(((performance.now() - t) * 1e6) / iterations);
      gc.end();
      const counted = await gc.collect();
      out.gcs.push(counted.count);
      out.majorGcs.push(counted.major);
      if (typeof c !== 'string') {
        const res = lastJsonLine<{ lockNs: number; tryLockNs: number }>('robust-mutex', await runProcess(c.path, ['uncontended', String(iterations * 10)]));
        out.cLockNs.push(res.lockNs);
        out.cTryNs.push(res.tryLockNs);
      }
    }
  } finally {
    m.close();
  }
  return out;
}

interface Contended {
  opsPerSec: number[];
  overlap: number[];
  exact: boolean;
  cOpsPerSec: number[];
  cOverlap: number[];
  cExact: boolean;
}

function overlapOf(spans: readonly { start: number; end: number }[]): { total: number; overlap: number } {
  const from = Math.min(...spans.map((s) => s.start));
  const to = Math.max(...spans.map((s) => s.end));
  const lo = Math.max(...spans.map((s) => s.start));
  const hi = Math.min(...spans.map((s) => s.end));
  return { total: to - from, overlap: hi > lo ? (hi - lo) / (to - from) : 0 };
}

async function contended(runs: number, iterations: number, c: CProgram | string): Promise<Contended> {
  const out: Contended = { opsPerSec: [], overlap: [], exact: true, cOpsPerSec: [], cOverlap: [], cExact: true };
  for (let r = 0; r < runs; r++) {
    const m = Mutex.create({ name: benchName('mutex-c') });
    const s = Segment.create(benchName('mutex-x'), 64);
    const children = [new Forked('sync-mutex.js'), new Forked('sync-mutex.js')];
    try {
      for (const ch of children) await ch.next();
      for (const ch of children) ch.send({ op: 'contend', handle: m.handle, segment: s.name, iterations });
      for (const ch of children) await ch.next();
      await sleep(20);
      const words = new Int32Array(s.buffer);
      Atomics.store(words, 1, 1);
      const spans = await Promise.all(children.map((ch) => ch.next<{ start: number; end: number }>()));
      const { total, overlap } = overlapOf(spans);
      out.opsPerSec.push((2 * iterations) / (total / 1000));
      out.overlap.push(overlap);
      if (words[0] !== 2 * iterations) out.exact = false;
      for (const ch of children) ch.send({ op: 'exit' });
      await Promise.all(children.map((ch) => ch.exited()));
    } finally {
      await killAll(children);
      s.close();
      s.unlink();
      m.close();
    }
    if (typeof c !== 'string') {
      const res = lastJsonLine<{ opsPerSec: number; overlap: number; count: number }>(
        'robust-mutex contended',
        await runProcess(c.path, ['contended', String(iterations)]),
      );
      out.cOpsPerSec.push(res.opsPerSec);
      out.cOverlap.push(res.overlap);
      if (res.count !== 2 * iterations) out.cExact = false;
    }
  }
  return out;
}

interface Handoff {
  asyncUs: number[];
  syncUs: number[];
  ipcUs: number[];
}

async function handoff(samples: number, pauseMs: number): Promise<Handoff> {
  const m = Mutex.create({ name: benchName('mutex-h') });
  const s = Segment.create(benchName('mutex-t'), 64);
  const t0 = new BigInt64Array(s.buffer, 8, 1);
  const asyncChild = new Forked('sync-mutex.js');
  const syncChild = new Forked('sync-mutex.js');
  const out: Handoff = { asyncUs: [], syncUs: [], ipcUs: [] };
  try {
    await asyncChild.next();
    await syncChild.next();
    asyncChild.send({ op: 'handoff', handle: m.handle, segment: s.name, sync: false });
    syncChild.send({ op: 'handoff', handle: m.handle, segment: s.name, sync: true });
    await asyncChild.next();
    await syncChild.next();
    const one = async (child: Forked): Promise<number> => {
      m.lockSync();
      child.send({ op: 'go' });
      await child.next(); // {waiting}: it is about to lock
      await sleep(pauseMs);
      t0[0] = process.hrtime.bigint();
      m.unlock();
      return (await child.next<{ ns: number }>()).ns / 1000;
    };
    const ipc = async (): Promise<number> => {
      await sleep(pauseMs);
      const start = process.hrtime.bigint();
      asyncChild.send({ op: 'ping' });
      await asyncChild.next();
      return Number(process.hrtime.bigint() - start) / 1000;
    };
    for (let k = 0; k < 20; k++) {
      await one(asyncChild);
      await ipc();
    }
    for (let k = 0; k < samples; k++) {
      out.asyncUs.push(await one(asyncChild));
      out.ipcUs.push(await ipc());
      out.syncUs.push(await one(syncChild));
    }
    asyncChild.send({ op: 'exit' });
    syncChild.send({ op: 'exit' });
    await asyncChild.exited();
    await syncChild.exited();
  } finally {
    await killAll([asyncChild, syncChild]);
    s.close();
    s.unlink();
    m.close();
  }
  return out;
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const runs = options.runs ?? (options.quick ? 2 : 7);
  const iterations = options.quick ? 100_000 : 1_000_000;
  const contendIterations = options.quick ? 50_000 : 1_000_000;
  const samples = options.quick ? 30 : 300;
  const pauseMs = 2;
  const c = compileC('robust-mutex');
  try {
    const u = await uncontended(runs, iterations, c);
    const k = await contended(runs, contendIterations, c);
    const h = await handoff(samples, pauseMs);
    const cMissing = typeof c === 'string' ? `${none} (${c})` : undefined;
    const lock = summarize(u.lockNs);
    const tryLock = summarize(u.tryNs);
    const cLock = cMissing ? undefined : summarize(u.cLockNs);
    const cTry = cMissing ? undefined : summarize(u.cTryNs);
    const ops = summarize(k.opsPerSec.map((x) => x / 1e6));
    const cOps = cMissing ? undefined : summarize(k.cOpsPerSec.map((x) => x / 1e6));
    const overlap = (xs: number[]): string => `overlap ${num(summarize(xs).min * 100)}–${num(summarize(xs).max * 100)}%`;
    const asyncUs = summarize(h.asyncUs);
    const syncUs = summarize(h.syncUs);
    const ipcUs = summarize(h.ipcUs);
    const noGcs = u.gcs.every((g) => g === 0);
    const rows: Row[] = [
      {
        measure: `Uncontended \`lockSync()\` + \`unlock()\`, ns per pair (${iterations.toLocaleString('en')} pairs × ${runs} runs)`,
        ndshm: figure(lock, 'ns'),
        alternative: cLock ? `C, the same robust process-shared mutex: ${figure(cLock, 'ns')}` : cMissing!,
        ratio: cLock ? ratio(lock.median, cLock.median, 'time') : none,
        target: cLock ? target('≤ 3.5× C', lock.median <= 3.5 * cLock.median) : none,
      },
      {
        measure: 'Uncontended `tryLock()` + `unlock()`, ns per pair',
        ndshm: figure(tryLock, 'ns'),
        alternative: cTry ? `C \`pthread_mutex_trylock\` + unlock: ${figure(cTry, 'ns')}` : cMissing!,
        ratio: cTry ? ratio(tryLock.median, cTry.median, 'time') : none,
        target: cTry ? target('≤ 3.5× C', tryLock.median <= 3.5 * cTry.median) : none,
      },
      {
        measure: `GCs during the ${(2 * iterations).toLocaleString('en')} lock + unlock pairs of a run`,
        ndshm: gcCountsText(u.gcs, u.majorGcs),
        alternative: none,
        ratio: none,
        target: target('0 GCs', noGcs),
      },
      {
        measure: `Contended: 2 processes × ${contendIterations.toLocaleString('en')} × (\`lockSync()\`; x++; \`unlock()\`), million pairs/s in all (${runs} runs)`,
        ndshm: `${figure(ops, 'M/s')}; ${overlap(k.overlap)}; count ${k.exact ? 'exact' : '**WRONG**'}`,
        alternative: cOps ? `2 C processes, same mutex kind: ${figure(cOps, 'M/s')}; ${overlap(k.cOverlap)}` : cMissing!,
        ratio: cOps ? ratio(ops.median, cOps.median, 'throughput') : none,
        target: cOps ? target('≥ 0.35× C, exact', ops.median >= 0.35 * cOps.median && k.exact) : none,
      },
      {
        measure: `Handoff between processes: \`unlock()\` here until \`await lock()\` resolves in a child (${samples} samples, ${pauseMs} ms apart)`,
        ndshm: figure(asyncUs, 'µs'),
        alternative: `child_process IPC round trip (\`send\` + reply), same pause: ${figure(ipcUs, 'µs')}`,
        ratio: ratio(asyncUs.median, ipcUs.median, 'time'),
        target: target('≤ 1× the IPC round trip', asyncUs.median <= ipcUs.median),
      },
      {
        measure: 'Same, the child blocked in `lockSync()`',
        ndshm: figure(syncUs, 'µs'),
        alternative: `IPC round trip: ${figure(ipcUs, 'µs')}`,
        ratio: ratio(syncUs.median, ipcUs.median, 'time'),
        target: none,
      },
    ];
    const notes = [
      'The mutex is a glibc `pthread_mutex_t`, robust, process-shared and error-checking, in a sync segment; ' +
        'bench/c/robust-mutex.c (compiled with `cc -O2` at bench time) drives the same kind of mutex with no JavaScript in between. ' +
        'The JavaScript figures pay two Node-API calls per pair. JavaScript and C runs alternate.',
      'Contended: each run starts 2 fresh processes that spin on a shared flag and start together; the figure is all pairs ' +
        'over the time from the first start to the last end; overlap is the time both ran over that span (on one vCPU the ' +
        'figure would measure time-slicing, not contention). Per-process start and end come from CLOCK_MONOTONIC.',
      'Handoff: this process holds the lock, the child reports {waiting} and calls `lock()`; after the pause this process ' +
        'stores the time and unlocks; the child takes the time when its lock resolves. The async path is: glibc unlock wakes ' +
        'the child\'s waiter thread (futex_waitv), a threadsafe function wakes its event loop, the JavaScript thread takes the lock. ' +
        'Wake-ups from idle are bimodal on these VMs; both sides pause the same way, samples alternate.',
    ];
    return { rows, notes };
  } finally {
    if (typeof c !== 'string') c.remove();
  }
}

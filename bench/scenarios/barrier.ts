// Barrier: rounds of 2 and 4 processes meeting at an ndshm Barrier (waitSync and wait) against the
// same processes meeting through their parent over child_process IPC (each sends {arrive}; the parent
// answers {pass} to all once everyone has arrived).

import { Barrier } from '../../src/index.js';
import { slowestMemberUs } from '../lib/rounds.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { summarize } from '../lib/stats.js';

export const title = 'Barrier: processes meeting round after round';
export const order = 82;

type Kind = 'sync' | 'async' | 'ipc';

/** One run: `n` fresh processes pass `warmup` untimed and `rounds` timed rounds; the slowest member's µs per round. */
async function oneRun(kind: Kind, n: number, warmup: number, rounds: number): Promise<number> {
  const barrier = kind === 'ipc' ? undefined : Barrier.create(n, { name: benchName('barrier'), member: false });
  try {
    const config = kind === 'ipc' ? { op: 'ipc', warmup, rounds } : { op: 'barrier', handle: barrier!.handle, warmup, rounds, mode: kind };
    return await slowestMemberUs('sync-barrier.js', Array.from({ length: n }, () => config), kind === 'ipc' ? warmup + rounds : 0);
  } finally {
    barrier?.close();
  }
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const runs = options.runs ?? (options.quick ? 2 : 7);
  const rounds = options.quick ? 200 : 2000;
  const warmup = options.quick ? 50 : 500;
  const rows: Row[] = [];
  for (const n of [2, 4]) {
    const us: Record<Kind, number[]> = { sync: [], async: [], ipc: [] };
    for (let r = 0; r < runs; r++) {
      const order: Kind[] = r % 2 === 0 ? ['sync', 'async', 'ipc'] : ['ipc', 'async', 'sync'];
      for (const kind of order) us[kind].push(await oneRun(kind, n, warmup, rounds));
    }
    const ipc = summarize(us.ipc);
    for (const kind of ['sync', 'async'] as const) {
      const ours = summarize(us[kind]);
      rows.push({
        measure: `${n} processes, \`${kind === 'sync' ? 'waitSync()' : 'await wait()'}\`: µs per round (${rounds} rounds × ${runs} runs)`,
        ndshm: figure(ours, 'µs'),
        alternative: `the same ${n} processes meeting through their parent over IPC: ${figure(ipc, 'µs')}`,
        ratio: ratio(ours.median, ipc.median, 'time'),
        target: target('≤ 0.3× IPC', ours.median <= 0.3 * ipc.median),
      });
    }
  }
  const notes = [
    `Each run starts fresh processes; they pass ${warmup} untimed rounds (every kind alike: the processes in step, the code compiled), then time their rounds; the figure is the slowest ` +
      'member\'s time per round. The barrier\'s creator (this process) takes no member slot. Kinds alternate run by run.',
    'A round of the ndshm barrier is one compare-and-swap per member on one shared word; the last arriver starts the next ' +
      'generation and wakes the sleepers with one FUTEX_WAKE; the others spin for 200 loads, then sleep on the word ' +
      '(`waitSync`: futex in the thread; `wait`: on the thread\'s native waiter thread, 100 ms slices between checks for dead ' +
      'members). With 4 processes on 2 vCPUs at least two members are always descheduled, so wake-up latency dominates.',
  ];
  return { rows, notes };
}

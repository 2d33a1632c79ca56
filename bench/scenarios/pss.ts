// Memory of four processes that share one 1 GiB array, as PSS (/proc/PID/smaps_rollup): each opens it
// by handle and reads all of it, and reports while still holding it; against four processes that
// each hold a private 1 GiB Float64Array with the same contents, and four idle node processes (Node's
// own baseline), all measured in the same run.

import { readFileSync, readdirSync } from 'node:fs';

import { SharedNDArray } from '../../src/index.js';
import { Forked, killAll } from '../lib/forked.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, none, num, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { type Smaps, addSmaps, readSmaps } from '../lib/smaps.js';
import { summarize } from '../lib/stats.js';
import { fillPattern, patternSum } from '../lib/sum.js';
import { interleaveAsync } from '../lib/timing.js';

export const title = 'Memory of 4 processes sharing one 1 GiB array (PSS)';
export const order = 60;

const holders = 4;
const slack = 1.05;
const GiB = 2 ** 30;

interface Group {
  children: Smaps[];
  /** This process (the creator), read while the children hold what they hold. */
  parent: Smaps;
  /** The creator's cleanup watchdog, when it has one. */
  watchdog: Smaps | undefined;
}

/** The ndshm cleanup watchdog this process started (a child of ours, titled ndshm-watchdog), if any. */
function watchdogPid(): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (/ndshm-watchdog|watchdog-main/.test(readFileSync(`/proc/${entry}/cmdline`, 'utf8'))) return Number(entry); // it renames itself
    } catch {
      // gone while we looked
    }
  }
  return undefined;
}

/** Starts 4 holders, waits until all hold, reads everyone's smaps_rollup at once, then ends them. */
async function group(args: string[], expectedSum: number, length: number): Promise<Group> {
  const children = Array.from({ length: holders }, () => new Forked('pss-holder.js', args));
  try {
    const ready = await Promise.all(children.map((c) => c.next<{ ready: boolean; sum: number }>()));
    for (const r of ready) {
      if (r.sum !== expectedSum) throw new Error(`a ${args[0]} holder summed ${r.sum}, expected ${expectedSum}`);
    }
    for (const c of children) c.send('report');
    const parent = readSmaps();
    const pid = watchdogPid();
    let watchdog: Smaps | undefined;
    try {
      watchdog = pid === undefined ? undefined : readSmaps(pid);
    } catch {
      watchdog = undefined;
    }
    const reports = await Promise.all(children.map((c) => c.next<{ smaps: Smaps; length: number }>()));
    for (const r of reports) {
      if (r.length !== length) throw new Error(`a ${args[0]} holder held ${r.length} elements, expected ${length}`);
    }
    for (const c of children) c.send('exit');
    await Promise.all(children.map((c) => c.exited()));
    return { children: reports.map((r) => r.smaps), parent, watchdog };
  } finally {
    await killAll(children);
  }
}

const gib = (bytes: number): number => bytes / GiB;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const bytes = options.quick ? 2 ** 26 : GiB;
  const runs = options.runs ?? (options.quick ? 2 : 3);
  const sizeText = options.quick ? `${bytes / 2 ** 20} MiB` : '1 GiB';
  const n = bytes / 8;
  const expectedSum = patternSum(0, n);

  const array = SharedNDArray.empty([n], 'float64', { name: benchName('pss') });
  try {
    fillPattern(array.data as Float64Array);
    const handleArg = JSON.stringify(array.handle);
    const shared: Group[] = [];
    const owned: Group[] = [];
    const idle: Group[] = [];
    await interleaveAsync(runs, [
      async () => void shared.push(await group(['shared', handleArg], expectedSum, n)),
      async () => void owned.push(await group(['private', String(n)], expectedSum, n)),
      async () => void idle.push(await group(['idle'], 0, 0)),
    ]);

    const childPss = (g: Group): number => addSmaps(g.children).pss;
    // The creator counts with its share of the array only: the rest of it is the benchmark runner.
    const sharedTotal = summarize(shared.map((g) => gib(childPss(g) + g.parent.pssShmem)));
    const ownedTotal = summarize(owned.map((g) => gib(childPss(g))));
    const idleTotal = summarize(idle.map((g) => gib(childPss(g))));
    const baseline = summarize(idle.map((g) => gib(childPss(g) / holders)));
    const budget = gib(bytes) * slack + holders * baseline.median;
    const sharedExtra = summarize(shared.map((g, i) => gib(childPss(g) + g.parent.pssShmem - childPss(idle[i]!))));
    const ownedExtra = summarize(owned.map((g, i) => gib(childPss(g) - childPss(idle[i]!))));
    const arrayPss = summarize(shared.map((g) => gib(addSmaps(g.children).pssShmem + g.parent.pssShmem)));
    const perChild = (groups: Group[], pick: (s: Smaps) => number) => summarize(groups.flatMap((g) => g.children.map((s) => gib(pick(s)))));
    const mib = (s: { median: number; min: number; max: number }) => `${num(s.median * 1024)} MiB (${num(s.min * 1024)}–${num(s.max * 1024)})`;
    const watchdogs = shared.flatMap((g) => (g.watchdog === undefined ? [] : [gib(g.watchdog.pss)]));

    const rows: Row[] = [
      {
        measure:
          `Total PSS: ${holders} processes that opened one shared ${sizeText} float64 array by handle and read all of it, ` +
          `plus the creator's share of the array (${runs} runs)`,
        ndshm: figure(sharedTotal, 'GiB'),
        alternative: `${holders} processes, each holding a private ${sizeText} Float64Array it filled itself: ${figure(ownedTotal, 'GiB')}`,
        ratio: `${num(sharedTotal.median / ownedTotal.median)}× the memory`,
        target: target(`≤ ${slack} × ${sizeText} + ${holders} × Node's idle baseline = ${num(budget)} GiB`, sharedTotal.median <= budget),
      },
      {
        measure: `Same, less ${holders} idle node processes (what holding the data costs)`,
        ndshm: figure(sharedExtra, 'GiB'),
        alternative: `private arrays: ${figure(ownedExtra, 'GiB')}`,
        ratio: `${num(sharedExtra.median / ownedExtra.median)}× the memory`,
        target: none,
      },
      {
        measure: `The array's pages (Pss_Shmem of the ${holders} holders and the creator)`,
        ndshm: `${arrayPss.median.toFixed(3)} GiB (${arrayPss.min.toFixed(3)}–${arrayPss.max.toFixed(3)})`,
        alternative: none,
        ratio: none,
        target: none,
      },
      {
        measure: `Per holder: Pss (${holders * runs} processes)`,
        ndshm: `${figure(perChild(shared, (s) => s.pss), 'GiB')}; of which Pss_Shmem ${figure(perChild(shared, (s) => s.pssShmem), 'GiB')}, Pss_Anon ${mib(perChild(shared, (s) => s.pssAnon))}`,
        alternative: `private: ${figure(perChild(owned, (s) => s.pss), 'GiB')}; of which Pss_Anon ${figure(perChild(owned, (s) => s.pssAnon), 'GiB')}`,
        ratio: none,
        target: none,
      },
      {
        measure: `Node's idle baseline: ${holders} node processes that import the library and do nothing, Pss per process`,
        ndshm: `${figure(baseline, 'GiB')}, i.e. ${mib(baseline)}; ${holders} of them: ${figure(idleTotal, 'GiB')}`,
        alternative: none,
        ratio: none,
        target: none,
      },
      {
        measure: "The creator (the benchmark runner, which made and filled the array): its own Pss, not in the total",
        ndshm: `${figure(summarize(shared.map((g) => gib(g.parent.pss))), 'GiB')}; of which Pss_Shmem (its share of the array, in the total) ${figure(summarize(shared.map((g) => gib(g.parent.pssShmem))), 'GiB')}`,
        alternative: none,
        ratio: none,
        target: none,
      },
    ];
    if (watchdogs.length > 0) {
      rows.push({
        measure: "The creator's cleanup watchdog (one node process per thread that owns arrays; it maps none), not in the total",
        ndshm: `${mib(summarize(watchdogs))} Pss`,
        alternative: none,
        ratio: none,
        target: none,
      });
    }
    return {
      rows,
      notes: [
        'PSS (proportional set size, /proc/PID/smaps_rollup) charges each page to the processes that map it in equal parts, ' +
          `so the figures of all processes add up to the memory they use together: here the ${sizeText} of the array is ` +
          `split five ways, between the ${holders} holders and the creator.`,
        `Each run starts ${holders} fresh node processes (\`child_process.fork\`, IPC json) per kind: they open and sum (or fill ` +
          'and sum) their array, report that sum, and once all four are ready they read their smaps_rollup while still holding ' +
          "the array; the creator reads its own at the same moment. The total counts the holders' whole PSS and, of the " +
          "creator, only its share of the array's pages (Pss_Shmem): the rest of the creator is the benchmark runner. The " +
          "private alternative's creator holds nothing of it. The three kinds alternate, the order reversed every other run.",
        "Node's own pages (the binary's text and data, shared libraries) are file pages that PSS also splits between all node " +
          'processes alive at the time, so a baseline is only comparable within a run; every group of four is measured ' +
          'alongside the same other node processes (the runner and its watchdog).',
      ],
    };
  } finally {
    array.release(); // created here: this removes it
  }
}

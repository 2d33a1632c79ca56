// A host group of 4 processes filling and reducing one 1 GiB matrix (each fills its block of rows,
// barrier, the leader sums it all), against 4 processes that each hold a private copy (each fills all
// of it, the leader sums its own: the replication code without shared memory falls back to), and
// against one process doing it all: time, and memory (PSS) with Node's idle baseline, all in one run.

import { Forked, killAll } from '../lib/forked.js';
import { benchGroupName, leavingNothing } from '../lib/group.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, none, num, ratio, target } from '../lib/report.js';
import { type Smaps, addSmaps } from '../lib/smaps.js';
import { summarize } from '../lib/stats.js';
import { interleaveAsync } from '../lib/timing.js';

export const title = 'Host group: 4 processes fill and reduce one 1 GiB matrix (time and PSS)';
export const order = 92;

const members = 4;
const slack = 1.05;
const GiB = 2 ** 30;
const cols = 1024;

type Kind = 'shared' | 'private' | 'one' | 'idle';

interface Outcome {
  /** The leader's time from go to its sum. */
  readonly ms: number;
  readonly pss: number;
}

function expectedSum(bytes: number): number {
  const rows = bytes / 8 / cols;
  let sum = 0;
  for (let r = 0; r < members; r++) {
    const base = Math.floor(rows / members);
    sum += (base + (r < rows % members ? 1 : 0)) * cols * (r + 1);
  }
  return sum;
}

async function oneRun(kind: Kind, bytes: number): Promise<Outcome> {
  const n = kind === 'one' ? 1 : members;
  const name = benchGroupName('red');
  const children = Array.from({ length: n }, () => new Forked('group-member.js'));
  try {
    children.forEach((c, rank) => {
      if (kind === 'shared') c.send({ op: 'reduce-shared', name, size: n, rank, bytes });
      else if (kind === 'private') c.send({ op: 'reduce-private', size: n, rank, bytes });
      else if (kind === 'one') c.send({ op: 'reduce-one', size: members, bytes });
      else c.send({ op: 'idle' });
    });
    for (const c of children) await c.next();
    for (const c of children) c.send({ go: true });
    const results = await Promise.all(children.map((c) => c.next<{ ms: number; sum: number }>()));
    if (kind !== 'idle' && results[0]!.sum !== expectedSum(bytes)) throw new Error(`${kind}: the leader summed ${results[0]!.sum}, expected ${expectedSum(bytes)}`);
    for (const c of children) c.send('report');
    const smaps = await Promise.all(children.map((c) => c.next<{ smaps: Smaps }>()));
    for (const c of children) c.send('exit');
    await Promise.all(children.map((c) => c.exited()));
    return { ms: results[0]!.ms, pss: addSmaps(smaps.map((s) => s.smaps)).pss };
  } finally {
    await killAll(children);
  }
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const bytes = options.quick ? 2 ** 26 : GiB;
  const runs = options.runs ?? (options.quick ? 1 : 3);
  const size = options.quick ? `${bytes / 2 ** 20} MiB` : '1 GiB';
  const out: Record<Kind, Outcome[]> = { shared: [], private: [], one: [], idle: [] };
  await leavingNothing(() =>
    interleaveAsync(runs, (['shared', 'private', 'one', 'idle'] as const).map((k) => async () => void out[k].push(await oneRun(k, bytes)))),
  );
  const gib = (b: number): number => b / GiB;
  const ms = (k: Kind) => summarize(out[k].map((o) => o.ms));
  const pss = (k: Kind) => summarize(out[k].map((o) => gib(o.pss)));
  const baseline = summarize(out.idle.map((o) => gib(o.pss) / members));
  const budget = gib(bytes) * slack + members * baseline.median;
  const shared = pss('shared');
  const rows: Row[] = [
    {
      measure: `Time: ${members} processes of a host group fill their blocks of one ${size} float64 matrix, barrier, the leader sums it (ms, ${runs} runs)`,
      ndshm: figure(ms('shared'), 'ms'),
      alternative: `${members} processes, each filling a private copy, the leader summing its own: ${figure(ms('private'), 'ms')}; one process: ${figure(ms('one'), 'ms')}`,
      ratio: `${ratio(ms('shared').median, ms('private').median, 'time')} of private copies; ${num(ms('shared').median / ms('one').median)}× one process`,
      target: none,
    },
    {
      measure: `Memory: total PSS of the ${members} processes, holding the matrix after the reduce`,
      ndshm: figure(shared, 'GiB'),
      alternative: `private copies: ${figure(pss('private'), 'GiB')}; one process: ${figure(pss('one'), 'GiB')}`,
      ratio: `${num(shared.median / pss('private').median)}× the memory of private copies`,
      target: target(`one copy plus the per-process baseline: ≤ ${slack} × ${size} + ${members} × ${num(baseline.median * 1024)} MiB = ${num(budget)} GiB`, shared.median <= budget),
    },
    {
      measure: `Node's idle baseline: ${members} node processes that import the library and do nothing, PSS per process`,
      ndshm: `${num(baseline.median * 1024)} MiB (${num(baseline.min * 1024)}–${num(baseline.max * 1024)})`,
      alternative: none,
      ratio: none,
      target: none,
    },
  ];
  return {
    rows,
    notes: [
      'Each run starts fresh processes per kind (child_process.fork); kinds alternate, the order reversed every other run. ' +
        `The matrix is [rows, ${cols}] float64; rank r's block of rows (numpy.array_split's) gets the value r + 1, so every ` +
        'kind has the same sum, which is checked. The time is the leader\'s, from the go message to its sum; for the group ' +
        'it includes the collective createSharedNdarray (rank 0 reserves the whole matrix with posix_fallocate) and the ' +
        'barrier; the private copies and the one process allocate a Float64Array and touch its pages as they fill it.',
      'Private copies: each process fills all of its copy (every process has the whole matrix, as the group\'s members ' +
        'do, without moving it between processes), so four processes fill 4 × the bytes on the machine\'s cores. The sum is ' +
        'a plain JavaScript loop over a Float64Array (four accumulators) in every kind.',
      'PSS (smaps_rollup) is read by every process while it still holds its memory, after the reduce; it charges each ' +
        'shared page to its mappers in equal parts, so the total is the memory the processes use together. The cleanup ' +
        'watchdog of the group\'s leader (a small node process) is not counted.',
    ],
  };
}

// Sending a 1 GiB float64 array to a worker thread and to a child process: by handle
// (packArrays({a}) through postMessage / child.send, the receiver opens it with unpackArrays) against
// sending the elements themselves (a Float64Array, structured-cloned by postMessage or by child
// process IPC with serialization 'advanced'). Timed by the sender, until the receiver's ack arrives.

import { setTimeout as sleep } from 'node:timers/promises';

import { SharedNDArray, packArrays } from '../../src/index.js';
import { forceGc } from '../lib/gc.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, none, num, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { type Summary, summarize } from '../lib/stats.js';
import { fillPattern } from '../lib/sum.js';
import { interleaveAsync } from '../lib/timing.js';
import { type Ack, Endpoint, type Trip } from './send/endpoint.js';

export const title = 'Send a 1 GiB array to a worker thread or a child process';
export const order = 50;

const speedupTarget = 1000;
const smallestCopy = 2 ** 20;
const warmups = 20;
const settleMs = 500;

function sizeText(bytes: number): string {
  return bytes >= 2 ** 30 ? `${bytes / 2 ** 30} GiB` : `${bytes / 2 ** 20} MiB`;
}

function expectAck(what: string, ack: Ack, length: number, last: number): void {
  if (ack.length !== length || ack.last !== last) {
    throw new Error(`${what}: the receiver acknowledged ${JSON.stringify(ack)}, expected {length: ${length}, last: ${last}}`);
  }
}

/**
 * After a copy: the receiver frees its copy and the sender its serialized message (full GCs), then a
 * pause, so that the cleanup after a 1 GiB copy does not land on the next send. In trial runs without
 * the pause, the first handle send after a child-process copy took up to ~150 ms, though a few `{}`
 * round trips in between were fast; our guess (not verified) is the next mmap waiting for memory that
 * is still being unmapped or handed back to the host.
 */
async function settle(endpoint: Endpoint): Promise<void> {
  await endpoint.roundTrip(() => ({ gc: true }));
  forceGc();
  await sleep(settleMs);
  forceGc();
}

/** The copy that gets across: 1 GiB, or the largest power of two that did (with why the larger failed). */
interface CopySize {
  endpoint: Endpoint;
  source: Float64Array;
  bytes: number;
  failures: string[];
}

/**
 * An untimed first copy at full size (it also warms up: first touch of the receiver's and the
 * serializer's memory); if it fails, a new receiver (from `start`) and half the size, down to 1 MiB.
 */
async function probeCopy(first: Endpoint, start: () => Endpoint, full: Float64Array): Promise<CopySize> {
  const failures: string[] = [];
  let endpoint = first;
  for (let bytes = full.byteLength; bytes >= smallestCopy; bytes /= 2) {
    const source = bytes === full.byteLength ? full : full.slice(0, bytes / 8); // a view would clone its whole buffer
    try {
      await endpoint.ready;
      const trip = await endpoint.roundTrip(() => ({ a: source }));
      expectAck(`${endpoint.label} copy`, trip.ack, source.length, source[source.length - 1]!);
      await settle(endpoint);
      return { endpoint, source, bytes, failures };
    } catch (err) {
      failures.push(`${sizeText(bytes)} failed: ${(err as Error).message.split('\n')[0]}`);
      await endpoint.stop();
      forceGc();
      endpoint = start();
    }
  }
  throw new Error(`no copy of ${sizeText(smallestCopy)} or more reached the ${endpoint.label}: ${failures.join('; ')}`);
}

/** Untimed round trips of each kind: loads and compiles both ends' paths. */
async function warmUp(endpoint: Endpoint, array: SharedNDArray, n: number, last: number): Promise<void> {
  await endpoint.ready;
  const small = new Float64Array(smallestCopy / 8).fill(1);
  for (let i = 0; i < warmups; i++) {
    await endpoint.roundTrip(() => ({}));
    expectAck(`${endpoint.label} ndshm`, (await endpoint.roundTrip(() => packArrays({ a: array }))).ack, n, last);
    expectAck(`${endpoint.label} copy`, (await endpoint.roundTrip(() => ({ a: small }))).ack, small.length, 1);
  }
}

interface Side {
  label: string;
  ndshm: number[];
  empty: number[];
  copy: number[];
  copyBytes: number;
  failures: string[];
}

function rowsFor(side: Side, bytes: number, what: string, copyWhat: string): Row[] {
  const ours = summarize(side.ndshm);
  const empty = summarize(side.empty);
  const copy = summarize(side.copy);
  const full = side.copyBytes === bytes;
  // Below full size (the full size failed), the copy is compared per GiB, scaled linearly.
  const perFull = (s: Summary): number => (s.median * bytes) / side.copyBytes;
  const copyMs = full ? copy.median : perFull(copy);
  const speedup = copyMs / ours.median;
  const copyCell = full
    ? `${copyWhat}: ${figure(copy, 'ms')}`
    : `${copyWhat}, ${sizeText(side.copyBytes)} (the largest power of two that got across; ${side.failures.join('; ')}): ` +
      `${figure(copy, 'ms')}, i.e. ${num(perFull(copy))} ms per ${sizeText(bytes)} scaled linearly, not measured`;
  return [
    {
      measure: `${what}: send until the receiver's ack, ${sizeText(bytes)} float64 (${side.ndshm.length} sends; copies: ${side.copy.length})`,
      ndshm: figure(ours, 'ms'),
      alternative: copyCell,
      ratio: `${ratio(ours.median, copyMs, 'time')} (${num(speedup)}× faster${full ? '' : ', against the scaled time'})`,
      target: target(`≥ ${speedupTarget}× faster`, speedup >= speedupTarget),
    },
    {
      measure: 'Same, against the round trip of a message without an array (`{}`)',
      ndshm: figure(ours, 'ms'),
      alternative: `the same channel and receiver, \`{}\` until the ack: ${figure(empty, 'ms')}`,
      ratio: ratio(ours.median, empty.median, 'time'),
      target: none,
    },
  ];
}

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const bytes = options.quick ? 2 ** 26 : 2 ** 30;
  const copyRuns = options.runs ?? (options.quick ? 2 : 5);
  const ndshmRuns = options.runs ?? (options.quick ? 4 : 15);
  const perRound = Math.ceil(ndshmRuns / copyRuns);
  const n = bytes / 8;

  const source = new Float64Array(n);
  fillPattern(source);
  const last = source[n - 1]!;
  const endpoints: Endpoint[] = [];
  const array = SharedNDArray.empty([n], 'float64', { name: benchName('send') });
  try {
    fillPattern(array.data as Float64Array);

    const starters = [
      { start: Endpoint.worker, what: '`worker.postMessage(packArrays({a}))` to a worker thread', copyWhat: '`worker.postMessage({a: float64Array})` (structured clone)' },
      { start: Endpoint.child, what: "`child.send(packArrays({a}))` to a child process (`fork`, serialization `'advanced'`)", copyWhat: "`child.send({a: float64Array})`, serialization `'advanced'`" },
    ];
    const sides: (Side & { endpoint: Endpoint; copySource: Float64Array; what: string; copyWhat: string })[] = [];
    for (const { start, what, copyWhat } of starters) {
      const started = (): Endpoint => {
        const e = start();
        endpoints.push(e); // stopped in the finally below, whatever happens
        return e;
      };
      const first = started();
      await warmUp(first, array, n, last);
      const probe = await probeCopy(first, started, source);
      if (probe.endpoint !== first) await warmUp(probe.endpoint, array, n, last);
      sides.push({ label: probe.endpoint.label, ndshm: [], empty: [], copy: [], copyBytes: probe.bytes, failures: probe.failures, endpoint: probe.endpoint, copySource: probe.source, what, copyWhat });
    }

    const trials = sides.flatMap((side) => [
      async () => {
        for (let i = 0; i < perRound; i++) {
          const trip: Trip = await side.endpoint.roundTrip(() => packArrays({ a: array }));
          expectAck(`${side.label} ndshm`, trip.ack, n, last);
          side.ndshm.push(trip.ms);
          side.empty.push((await side.endpoint.roundTrip(() => ({}))).ms);
        }
      },
      async () => {
        const copy = side.copySource;
        const trip = await side.endpoint.roundTrip(() => ({ a: copy }));
        expectAck(`${side.label} copy`, trip.ack, copy.length, copy[copy.length - 1]!);
        side.copy.push(trip.ms);
        await settle(side.endpoint);
      },
    ]);
    await interleaveAsync(copyRuns, trials);

    const rows = sides.flatMap((side) => rowsFor(side, bytes, side.what, side.copyWhat));
    return {
      rows,
      notes: [
        `The same array (one ${sizeText(bytes)} SharedNDArray, created and filled once) and thus the same handle is sent every time; ` +
          'the receiver unpacks the message (`unpackArrays`, which opens the array by its handle: `SharedNDArray.open`), reads ' +
          'the last element, acknowledges with {length, last}, then releases the array. The copy alternatives send a plain ' +
          `${sizeText(bytes)} Float64Array with the same contents; the receiver reads its last element and acknowledges.`,
        'Each time is measured by the sender, from just before the message is built (`packArrays` included) until the ack ' +
          `arrives in its message listener. The receivers are started and warmed up before the clock (${warmups} round trips of ` +
          'each kind: `{}`, the handle, a 1 MiB copy; then an untimed first full-size copy). Each round runs ' +
          `${perRound} handle sends, each followed by a \`{}\` round trip, and one copy, for each receiver; ${copyRuns} rounds, ` +
          'the order reversed every other round. After each copy (untimed) both sides run a full GC and the sender pauses ' +
          `${settleMs} ms, so that the cleanup after the copy does not land on the next send: without the pause, the first ` +
          'handle send after a child-process copy took up to ~150 ms in trial runs. The copy times do not include that cleanup.',
      ],
    };
  } finally {
    await Promise.all(endpoints.map((e) => e.stop()));
    array.release(); // created here: this removes it
  }
}

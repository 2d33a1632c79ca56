// A member of the host-group scenarios, forked with an IPC channel. The first message configures it:
//   {op: 'barrier', name, size, rank, warmup, rounds}   HostGroup.barrier(): warmup untimed, then rounds
//   {op: 'ipc', warmup, rounds}                  a barrier through the parent: send {arrive}, wait for {pass}
//   {op: 'raw', handle, warmup, rounds}          the sync Barrier alone (Barrier.open(handle), await wait())
//   {op: 'create', name, size, rank, bytes, iterations}
//                                                 per iteration: barrier, then time a collective
//                                                 createSharedNdarray (zeroOut), then clean up
//   {op: 'reduce-shared', name, size, rank, bytes}   fill its block of one shared matrix, barrier, the leader sums
//   {op: 'reduce-private', rank, size, bytes}        fill a whole private copy; the leader sums its own
//   {op: 'reduce-one', bytes}                         one process fills and sums the whole matrix
//   {op: 'idle'}                                      nothing (Node's baseline)
// It says {ready}, waits for {go}, works, and says its result. The reduce and idle kinds then answer
// 'report' with their smaps_rollup while still holding their memory, and end on 'exit'.

import { Barrier, HostGroup, LocalNdarray, ResourceAllocation, type SyncHandle, cleanupSharedNdarray, createSharedNdarray } from '../../src/index.js';
import { next, send } from '../lib/parent.js';
import { readSmaps } from '../lib/smaps.js';
import { sumFloat64, warmUpSum } from '../lib/sum.js';

interface Config {
  op: 'barrier' | 'ipc' | 'raw' | 'create' | 'reduce-shared' | 'reduce-private' | 'reduce-one' | 'idle';
  name?: string;
  size?: number;
  rank?: number;
  warmup?: number;
  rounds?: number;
  bytes?: number;
  iterations?: number;
  handle?: SyncHandle;
}


/** Holds what it holds until the parent has read its memory. */
async function reportAndExit(release: () => Promise<void> | void): Promise<void> {
  for (;;) {
    const m = await next();
    if (m === 'report') send({ smaps: readSmaps() });
    else if (m === 'exit') break;
  }
  await release();
  process.disconnect();
}

/** Fills rows [from, to) of a C-order [rows, cols] Float64Array: row r gets its block's rank + 1. */
function fillRows(data: Float64Array, cols: number, from: number, to: number, value: number): void {
  data.subarray(from * cols, to * cols).fill(value);
}

const config = (await next()) as Config;
const cols = 1024;
switch (config.op) {
  case 'barrier': {
    const g = await HostGroup.join(config.name!, { size: config.size!, rank: config.rank!, timeout: 60_000 });
    send({ ready: true });
    await next();
    for (let r = 0; r < config.warmup!; r++) await g.barrier();
    const start = process.hrtime.bigint();
    for (let r = 0; r < config.rounds!; r++) await g.barrier();
    send({ us: Number(process.hrtime.bigint() - start) / 1000 / config.rounds! });
    await g.close();
    process.disconnect();
    break;
  }
  case 'raw': {
    const b = Barrier.open(config.handle!);
    send({ ready: true });
    await next();
    for (let r = 0; r < config.warmup!; r++) await b.wait();
    const start = process.hrtime.bigint();
    for (let r = 0; r < config.rounds!; r++) await b.wait();
    send({ us: Number(process.hrtime.bigint() - start) / 1000 / config.rounds! });
    b.close();
    process.disconnect();
    break;
  }
  case 'ipc': {
    send({ ready: true });
    await next();
    const round = (): Promise<unknown> => {
      send({ arrive: true });
      return next();
    };
    for (let r = 0; r < config.warmup!; r++) await round();
    const start = process.hrtime.bigint();
    for (let r = 0; r < config.rounds!; r++) await round();
    send({ us: Number(process.hrtime.bigint() - start) / 1000 / config.rounds! });
    process.disconnect();
    break;
  }
  case 'create': {
    const g = await HostGroup.join(config.name!, { size: config.size!, rank: config.rank!, timeout: 60_000 });
    const ra = new ResourceAllocation({ hostGroup: g });
    send({ ready: true });
    await next();
    const us: number[] = [];
    for (let k = 0; k < config.iterations!; k++) {
      await g.barrier();
      const t = process.hrtime.bigint();
      const [, shm] = await createSharedNdarray(ra, [config.bytes! / 8], 'float64', { zeroOut: true });
      us.push(Number(process.hrtime.bigint() - t) / 1000);
      await cleanupSharedNdarray(shm);
    }
    send({ us });
    await g.close();
    process.disconnect();
    break;
  }
  case 'reduce-shared': {
    warmUpSum();
    const g = await HostGroup.join(config.name!, { size: config.size!, rank: config.rank!, timeout: 60_000 });
    const ra = new ResourceAllocation({ hostGroup: g });
    send({ ready: true });
    await next();
    const t = performance.now();
    const rows = config.bytes! / 8 / cols;
    const [m, shm] = await createSharedNdarray(ra, [rows, cols], 'float64', { zeroOut: true });
    const mine = LocalNdarray.forRank(m, g.rank, g.size);
    const first = mine.slicesIntoHostArray[0]!;
    fillRows(m.data as Float64Array, cols, first.start, first.stop!, g.rank + 1);
    await g.barrier();
    const sum = g.isLeader ? sumFloat64(m.data as Float64Array) : 0;
    send({ ms: performance.now() - t, sum });
    await reportAndExit(async () => {
      await cleanupSharedNdarray(shm);
      await g.close();
    });
    break;
  }
  case 'reduce-private':
  case 'reduce-one': {
    warmUpSum();
    send({ ready: true });
    await next();
    const t = performance.now();
    const rows = config.bytes! / 8 / cols;
    let data: Float64Array | undefined = new Float64Array(rows * cols);
    // The whole matrix, block by block as the group's members fill theirs.
    const size = config.size ?? 4;
    for (let r = 0; r < size; r++) {
      const base = Math.floor(rows / size);
      const extra = rows % size;
      const from = r * base + Math.min(r, extra);
      fillRows(data, cols, from, from + base + (r < extra ? 1 : 0), r + 1);
    }
    const sum = config.op === 'reduce-one' || config.rank === 0 ? sumFloat64(data) : 0;
    send({ ms: performance.now() - t, sum });
    await reportAndExit(() => {
      data = undefined;
    });
    break;
  }
  case 'idle': {
    send({ ready: true });
    await next();
    send({ ms: 0, sum: 0 });
    await reportAndExit(() => undefined);
    break;
  }
}

// Beyond one host (ndshm/cluster): a 1 GiB float64 store published once to a loopback nats-server,
// then N = 1, 2, 3 simulated hosts (a mount namespace each, with its own tmpfs on /dev/shm) with
// P = 1, 3 worker processes per host, each summing its share of the array:
//   A  ndshm cluster: Cluster.open(); the first worker of each host fetches, the others attach
//   B  every worker fetches a private copy of its own with a plain ObjectStore.get
//   C  each host loads the same data from a local .npy with `ndshm load`, then its workers attach
// Measured: time from the go to the last worker's answer; bytes the server sent (/varz out_bytes);
// memory per host (the PSS of its workers, taken while they all hold the data); and the throughput of
// ndshm's fetch and upload against a plain object get and put of the same bytes.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Objm } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';

import { Cluster } from '../../src/cluster/index.js';
import { type StoreLeaf, arraysToShm, releaseArrays, shmToArrays, shmToNpy, unlink } from '../../src/index.js';
import { NatsServer } from '../../test/cluster/server.js';
import { BenchHost, type LineChild, clusterBenchUnavailable } from '../lib/cluster.js';
import { benchTempDir } from '../lib/loads.js';
import { type Row, type ScenarioOptions, type ScenarioResult, figure, num, ratio, target } from '../lib/report.js';
import { benchName } from '../lib/shm.js';
import { summarize } from '../lib/stats.js';
import { fillPattern, patternSum } from '../lib/sum.js';

export const title = 'Beyond one host: one fetch per host (ndshm/cluster, NATS JetStream)';
export const order = 200;

type Side = 'a' | 'b' | 'c';

interface Answer {
  sum: number;
  from: number;
  to: number;
  fetchMs: number;
  fetched: number;
}

interface Trial {
  /** Go to the last answer. */
  ms: number;
  /** Bytes the server sent meanwhile. */
  sent: number;
  /** Mean over hosts of the summed PSS of a host's workers. */
  pssPerHost: number;
  /** The slowest worker's own fetch (a, b) or attach (c). */
  fetchMs: number;
}

const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

async function trial(side: Side, hosts: number, workers: number, ctx: { server: NatsServer; bucket: string; store: string; object: string; npy: string; size: number; count: number }): Promise<Trial> {
  const made: BenchHost[] = [];
  const children: LineChild[][] = [];
  try {
    for (let h = 0; h < hosts; h++) made.push(await BenchHost.start(`h${h}`, Math.ceil(ctx.size * 1.1) + (64 << 20)));
    for (const host of made) {
      children.push(
        Array.from({ length: workers }, (_, k) =>
          host.child('replicate-worker.js', [JSON.stringify({ side, servers: ctx.server.url, bucket: ctx.bucket, store: ctx.store, object: ctx.object, k, workers, hostId: host.id })]),
        ),
      );
    }
    await Promise.all(children.flat().map((c) => c.next<{ ready: boolean }>()));
    const before = (await ctx.server.varz()).out_bytes;
    const start = performance.now();
    if (side === 'c') {
      const loads = await Promise.all(made.map((h) => h.run([process.execPath, cli, 'load', ctx.store, ctx.npy, '--no-progress'])));
      for (const l of loads) if (l.code !== 0) throw new Error(`ndshm load failed: ${l.stderr}`);
    }
    const answers = children.map((ws) => ws.map((w) => w.next<Answer>()));
    for (const w of children.flat()) w.send({ op: 'go' });
    const got = await Promise.all(answers.map((a) => Promise.all(a)));
    const ms = performance.now() - start;
    const sent = ((await ctx.server.varz()).out_bytes) - before;
    for (const [h, hostAnswers] of got.entries()) {
      for (const a of hostAnswers) {
        if (a.sum !== patternSum(a.from, a.to)) throw new Error(`side ${side}: a worker of host ${h} summed [${a.from}, ${a.to}) to ${a.sum}, expected ${patternSum(a.from, a.to)}`);
      }
      if (side === 'a' && hostAnswers.reduce((n, a) => n + a.fetched, 0) !== 1) throw new Error(`side a: host ${h} fetched ${hostAnswers.map((a) => a.fetched).join('+')} times`);
    }
    const pss = await Promise.all(children.map(async (ws) => {
      const each = await Promise.all(ws.map(async (w) => {
        w.send({ op: 'pss' });
        return (await w.next<{ pss: number }>()).pss;
      }));
      return each.reduce((x, y) => x + y, 0);
    }));
    for (const w of children.flat()) w.send({ op: 'exit' });
    await Promise.all(children.flat().map((w) => w.exited));
    return { ms, sent, pssPerHost: pss.reduce((x, y) => x + y, 0) / pss.length, fetchMs: Math.max(...got.flat().map((a) => a.fetchMs)) };
  } finally {
    for (const w of children.flat()) w.proc.kill('SIGKILL');
    for (const h of made) await h.stop();
  }
}

/** A plain ObjectStore.put of `bytes` (a view of the source store's mapping), in 8 MiB pieces. */
async function plainPut(url: string, bucket: string, name: string, bytes: Uint8Array): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    const os = await new Objm(nc).open(bucket);
    const chunk = 8 << 20;
    let at = 0;
    const rs = new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= bytes.length) return c.close();
        c.enqueue(bytes.subarray(at, Math.min(bytes.length, at + chunk)));
        at += chunk;
      },
    }, { highWaterMark: 0 });
    const start = performance.now();
    await os.put({ name, options: { max_chunk_size: chunk } }, rs);
    return performance.now() - start;
  } finally {
    await nc.close();
  }
}

const gib = (b: number): string => `${num(b / 2 ** 30)} GiB`;
const mib = (b: number): string => `${num(b / 2 ** 20)} MiB`;

export async function run(options: ScenarioOptions): Promise<ScenarioResult> {
  const why = clusterBenchUnavailable();
  if (why !== undefined) throw new Error(`replicate needs ${why}`);
  const size = options.quick ? 64 << 20 : 2 ** 30;
  const count = size / 8;
  const runs = options.runs ?? 1;
  const grid: [number, number][] = options.quick ? [[1, 1], [2, 3]] : [[1, 1], [1, 3], [2, 1], [2, 3], [3, 1], [3, 3]];

  const server = await NatsServer.start();
  const temp = benchTempDir('replicate');
  const local = benchName('src');
  const bucket = `bench${process.pid}`;
  const store = 'bench-table';
  const plainObject = 'plain-copy';
  let cluster: Cluster | undefined;
  try {
    // The source: a store in this process's /dev/shm, and the same array as a .npy for side C.
    const x = new Float64Array(count);
    fillPattern(x);
    arraysToShm(local, { x }, { persistent: false });
    const npy = join(temp.dir, 'x.npy'); // ndshm load names the array after the file
    shmToNpy(local, 'x', npy);
    cluster = await Cluster.connect({ servers: server.url, bucket, hostId: 'publisher', graceMs: 0 });

    // Upload: ndshm's publish (streamed from the mapping, own SHA-256) against a plain put of the same bytes.
    const uploads: number[] = [];
    const puts: number[] = [];
    const src = shmToArrays(local, { readOnly: true });
    const bytes = new Uint8Array(((src['x'] as StoreLeaf).data.data as Float64Array).buffer, ((src['x'] as StoreLeaf).data.data as Float64Array).byteOffset, size);
    for (let r = 0; r < Math.max(runs, 2); r++) {
      const start = performance.now();
      await cluster.publish(store, local, { overwrite: true });
      uploads.push(performance.now() - start);
      puts.push(await plainPut(server.url, bucket, plainObject, bytes));
    }
    releaseArrays(src);

    const ctx = { server, bucket, store, object: plainObject, npy, size, count };
    const results = new Map<string, Trial[]>();
    for (let r = 0; r < runs; r++) {
      for (const [n, p] of grid) {
        const sides: Side[] = r % 2 === 0 ? ['a', 'b', 'c'] : ['c', 'b', 'a'];
        for (const side of sides) {
          const t = await trial(side, n, p, ctx);
          const key = `${side}${n}x${p}`;
          results.set(key, [...(results.get(key) ?? []), t]);
          console.log(`  ${side.toUpperCase()} ${n} host(s) x ${p} worker(s): ${num(t.ms)} ms, server sent ${t.sent} bytes, ${mib(t.pssPerHost)} PSS per host`);
        }
      }
    }

    const med = (key: string, f: (t: Trial) => number): number => summarize(results.get(key)!.map(f)).median;
    const rows: Row[] = [];
    for (const [n, p] of grid) {
      const k = `${n}x${p}`;
      const a = med(`a${k}`, (t) => t.ms);
      const b = med(`b${k}`, (t) => t.ms);
      const c = med(`c${k}`, (t) => t.ms);
      rows.push({
        measure: `time to all answers, ${n} host(s) × ${p} worker(s)`,
        ndshm: figure(summarize(results.get(`a${k}`)!.map((t) => t.ms / 1000)), 's'),
        alternative: `B private gets ${num(b / 1000)} s; C ndshm load .npy ${num(c / 1000)} s`,
        ratio: ratio(a, b, 'time'),
        target: n === 3 && p === 3 ? target('≤ 0.5× B', a <= 0.5 * b) : '—',
      });
    }
    for (const [n, p] of grid) {
      const k = `${n}x${p}`;
      const a = med(`a${k}`, (t) => t.sent);
      const b = med(`b${k}`, (t) => t.sent);
      const over = (bytes: number, copies: number): string => `${bytes - copies * size >= 0 ? '+' : ''}${(((bytes - copies * size) / (copies * size)) * 100).toFixed(3)}%`;
      rows.push({
        measure: `bytes the server sent, ${n} × ${p}`,
        ndshm: `${gib(a)}: N × size ${over(a, n)} (${a} B)`,
        alternative: `B ${gib(b)}: N × P × size ${over(b, n * p)}`,
        ratio: ratio(a, b, 'time').replace('time', 'bytes'),
        target: target('A within 2% of N × size', Math.abs(a - n * size) <= 0.02 * n * size),
      });
    }
    for (const [n, p] of grid) {
      if (n !== 1) continue;
      const k = `${n}x${p}`;
      rows.push({
        measure: `memory per host (PSS of its ${p} worker(s))`,
        ndshm: mib(med(`a${k}`, (t) => t.pssPerHost)),
        alternative: `B ${mib(med(`b${k}`, (t) => t.pssPerHost))}; C ${mib(med(`c${k}`, (t) => t.pssPerHost))}`,
        ratio: ratio(med(`a${k}`, (t) => t.pssPerHost), med(`b${k}`, (t) => t.pssPerHost), 'time').replace('time', 'memory'),
        target: '≈ one copy + P × Node baseline',
      });
    }
    const fetchA = med('a1x1', (t) => t.fetchMs);
    const fetchB = med('b1x1', (t) => t.fetchMs);
    rows.push({
      measure: 'fetch throughput, one host (open() into shared memory, both digests checked)',
      ndshm: `${num(size / 2 ** 20 / (fetchA / 1000))} MiB/s`,
      alternative: `plain ObjectStore.get into a private buffer: ${num(size / 2 ** 20 / (fetchB / 1000))} MiB/s`,
      ratio: ratio(fetchB, fetchA, 'throughput'),
      target: target('≥ 0.8× the plain get', fetchB / fetchA >= 0.8),
    });
    const up = summarize(uploads).median;
    const put = summarize(puts).median;
    rows.push({
      measure: 'upload throughput (publish from the mapping, ndshm SHA-256, manifest)',
      ndshm: `${num(size / 2 ** 20 / (up / 1000))} MiB/s`,
      alternative: `plain ObjectStore.put of the same bytes: ${num(size / 2 ** 20 / (put / 1000))} MiB/s`,
      ratio: ratio(put, up, 'throughput'),
      target: '—',
    });
    return {
      rows,
      notes: [
        `${options.quick ? `${size >> 20} MiB` : '1 GiB'} float64 store, ${runs} run(s), sides alternating; nats-server ${'2.9.10 (Debian)'} on 127.0.0.1 with max_payload 8 MB, 8 MiB chunks; @nats-io/* 3.4.0 with the native SHA-256.`,
        'Simulated hosts share the machine: 2 vCPUs run the server, every host\'s processes and the sums, so side B (N × P gets at once) is CPU-bound as well as network-bound, and all times are noisy when other work runs. Bytes sent do not depend on load.',
        'Memory per host: the summed PSS of the host\'s workers, read while all of them hold the data (shared pages count once in the sum). C\'s .npy is read from the page cache, shared by the simulated hosts (on real hosts each reads its own disk).',
      ],
    };
  } finally {
    await cluster?.unpublish(store).catch(() => undefined);
    await cluster?.close();
    try {
      unlink(local);
    } catch {
      // not made
    }
    await server.destroy();
    temp.remove();
  }
}

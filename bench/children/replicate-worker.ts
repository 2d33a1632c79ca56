// One worker of the replicate scenario, inside a simulated host. argv[2] is JSON:
//   { side: 'a' | 'b' | 'c', servers, bucket, store, object, k, workers, hostId }
// It connects, compiles the sum loop, says {ready}; on {go} it gets the data and sums its share
// (elements [k n / workers, (k + 1) n / workers) of the float64 array):
//   a  Cluster.open(store): the first worker of the host fetches, the others attach
//   b  a plain ObjectStore.get of the object into a private buffer of its own
//   c  shmToArrays(store): the host loaded it from a .npy before the go
// and answers {sum, from, to, fetchMs, fetched}; {pss} answers its proportional set size; {exit} ends it.

import { createInterface } from 'node:readline';

import { Objm, setSha256Backend } from '@nats-io/obj';
import { connect } from '@nats-io/transport-node';

import { Cluster } from '../../src/cluster/index.js';
import { type StoreLeaf, type StoreTree, releaseArrays, shmToArrays } from '../../src/index.js';
import { readSmaps } from '../lib/smaps.js';
import { sumFloat64, warmUpSum } from '../lib/sum.js';

interface Args {
  side: 'a' | 'b' | 'c';
  servers: string;
  bucket: string;
  store: string;
  object: string;
  k: number;
  workers: number;
  hostId: string;
}

const args = JSON.parse(process.argv[2]!) as Args;
const send = (m: unknown): void => void process.stdout.write(`${JSON.stringify(m)}\n`);
setSha256Backend('native'); // as ndshm/cluster does: the plain get is not slowed by a JavaScript SHA-256
warmUpSum();

const cluster = args.side === 'a' ? await Cluster.connect({ servers: args.servers, bucket: args.bucket, hostId: args.hostId }) : undefined;
const nc = args.side === 'b' ? await connect({ servers: args.servers }) : undefined;
const os = nc === undefined ? undefined : await new Objm(nc).open(args.bucket);
let tree: StoreTree | undefined;
let privateCopy: Uint8Array | undefined;
send({ ready: true });

const share = (n: number): [number, number] => [Math.floor((args.k * n) / args.workers), Math.floor(((args.k + 1) * n) / args.workers)];

for await (const line of createInterface({ input: process.stdin })) {
  const m = JSON.parse(line) as { op: string };
  if (m.op === 'go') {
    const start = performance.now();
    let x: Float64Array;
    let fetched = 0;
    if (args.side === 'a') {
      tree = await cluster!.open(args.store);
      fetched = cluster!.stats().fetches;
      x = (tree['x'] as StoreLeaf).data.data as Float64Array;
    } else if (args.side === 'b') {
      const r = (await os!.get(args.object))!;
      privateCopy = new Uint8Array(r.info.size);
      let at = 0;
      const reader = r.data.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        privateCopy.set(value, at);
        at += value.length;
      }
      const e = await r.error;
      if (e) throw e;
      if (at !== r.info.size) throw new Error(`got ${at} of ${r.info.size} bytes`);
      fetched = 1;
      x = new Float64Array(privateCopy.buffer, 0, privateCopy.length / 8);
    } else {
      tree = shmToArrays(args.store, { readOnly: true });
      x = (tree['x'] as StoreLeaf).data.data as Float64Array;
    }
    const fetchMs = performance.now() - start;
    const [from, to] = share(x.length);
    const sum = sumFloat64(x.subarray(from, to));
    send({ sum, from, to, fetchMs, fetched });
  } else if (m.op === 'pss') {
    send({ pss: readSmaps().pss });
  } else if (m.op === 'exit') {
    if (tree !== undefined) releaseArrays(tree);
    privateCopy = undefined;
    await cluster?.close();
    await nc?.close();
    process.exit(0);
  }
}

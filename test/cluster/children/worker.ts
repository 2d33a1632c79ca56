// A process of a simulated host: connects to the cluster given as argv[2] (JSON: Cluster.connect
// options) and then follows commands, one JSON line each on stdin, answering with JSON lines:
//   {op:'open', name, ...OpenOptions}   -> {op:'opened', name, fetched, digests, sum, generation}
//   {op:'pull', name, ...}              -> {op:'pulled', ...PullResult}
//   {op:'check'}                        -> {op:'checked', digests}: the arrays it holds, hashed again
//   {op:'release'}                      -> {op:'released'}
//   {op:'replicate', ...options}        -> {op:'agent'}, then {op:'event', state} for every change
//   {op:'stop-agent'}                   -> {op:'agent-stopped'}
//   {op:'publish', name, count, seed, overwrite} -> {op:'published', ...info}: float64 data i*0.5+seed
//   {op:'stats'}                        -> {op:'stats', stats}
//   {op:'shm'}                          -> {op:'shm', names}: this host's /dev/shm
//   {op:'exit'}                         closes the cluster and exits 0
// A failed command answers {op:'error', code, message}. It prints {op:'ready'} once connected.

import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createInterface } from 'node:readline';

import { Cluster, type ClusterOptions, type ReplicaAgent } from '../../../src/cluster/index.js';
import { type StoreTree, isNdshmError } from '../../../src/index.js';

const send = (m: unknown): void => {
  process.stdout.write(`${JSON.stringify(m)}\n`);
};

/** SHA-256 of each array's bytes, by path, and the sum of all float64 elements (a worker's answer). */
export function digests(tree: StoreTree): { digests: Record<string, string>; sum: number } {
  const out = Object.create(null) as Record<string, string>; // keys may be '__proto__'
  let sum = 0;
  const walk = (node: StoreTree, path: string[]): void => {
    for (const key of Object.keys(node)) {
      const child = node[key] as unknown as { data?: { data: ArrayBufferView & ArrayLike<number>; dtype: { typestr: string } }; meta?: unknown };
      if (child.meta !== undefined && child.data !== undefined) {
        const view = child.data.data;
        const digest = createHash('sha256').update(new Uint8Array(view.buffer, view.byteOffset, view.byteLength)).digest('hex');
        Object.defineProperty(out, [...path, key].join('/'), { value: digest, enumerable: true });
        if (child.data.dtype.typestr === '<f8') for (let i = 0; i < view.length; i++) sum += view[i]!;
      } else {
        walk(child as unknown as StoreTree, [...path, key]);
      }
    }
  };
  walk(tree, []);
  return { digests: out, sum };
}

const options = JSON.parse(process.argv[2] ?? '{}') as ClusterOptions;
let cluster: Cluster;
try {
  cluster = await Cluster.connect(options);
} catch (err) {
  send({ op: 'error', code: (err as { code?: string }).code, message: (err as Error).message });
  process.exit(1);
}
const held: StoreTree[] = [];
let agent: ReplicaAgent | undefined;
send({ op: 'ready', host: cluster.hostId, pid: process.pid });

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const cmd = JSON.parse(line) as { op: string; name?: string; [k: string]: unknown };
  const { op, name, ...rest } = cmd;
  try {
    switch (op) {
      case 'open': {
        const before = cluster.stats().fetches;
        const tree = await cluster.open(name!, rest);
        held.push(tree);
        const info = await cluster.info(name!);
        send({ op: 'opened', name, fetched: cluster.stats().fetches - before, generation: info?.generation, ...digests(tree) });
        break;
      }
      case 'pull':
        send({ op: 'pulled', ...(await cluster.pull(name!, rest)) });
        break;
      case 'check':
        send({ op: 'checked', trees: held.map((t) => digests(t).digests) });
        break;
      case 'release':
        for (const t of held.splice(0)) (t as unknown as Disposable)[Symbol.dispose]();
        send({ op: 'released' });
        break;
      case 'replicate':
        agent = await cluster.replicate({ ...rest, onEvent: (state) => send({ op: 'event', state }) });
        send({ op: 'agent' });
        break;
      case 'stop-agent':
        await agent?.stop();
        send({ op: 'agent-stopped' });
        break;
      case 'publish': {
        const n = rest['count'] as number;
        const data = new Float64Array(n);
        for (let i = 0; i < n; i++) data[i] = i * 0.5 + (rest['seed'] as number);
        const info = await cluster.publish(name!, { x: data }, { overwrite: rest['overwrite'] === true, progress: (done, total) => send({ op: 'progress', done, total }) });
        send({ op: 'published', ...info });
        break;
      }
      case 'stats':
        send({ op: 'stats', stats: cluster.stats() });
        break;
      case 'shm':
        send({ op: 'shm', names: readdirSync('/dev/shm').sort() });
        break;
      case 'exit':
        await cluster.close();
        process.exit(0);
        break;
      default:
        send({ op: 'error', code: 'EINVAL', message: `unknown op ${op}` });
    }
  } catch (err) {
    send({ op: 'error', code: isNdshmError(err) ? err.code : 'UNKNOWN', message: (err as Error).message });
  }
}
await cluster.close();

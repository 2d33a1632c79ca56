// Remote manifests are untrusted: whoever can write to the bucket can write one. Each hostile variant
// of a valid manifest is refused with EBADHEADER before anything is allocated on the host (no
// segment, no claim); keys such as "__proto__" are ordinary keys.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';

import { type Opened, type WorkerMessage, ask, clusterFixture, clusterSkip, event, exitWorker, freshBucket, startWorker } from './setup.js';

const skip = clusterSkip();
const fx = clusterFixture(skip);

type M = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const nest = (depth: number): M => (depth === 0 ? { '@leaf': { segment: 1, dtype: '<i4', shape: [3], strides: [4], offset: 0, attrs: {} } } : { g: nest(depth - 1) });

/** name -> how to spoil a copy of the valid manifest (which has x: <f8 (262144,) in segment 0, y: <i4 (3,) in segment 1). */
const variants: Record<string, (m: M) => M | string> = {
  notjson: () => '{"ndshm_remote": 1, ',
  version: (m) => ({ ...m, ndshm_remote: 2 }),
  othername: (m) => ({ ...m, name: 'someone-else' }),
  generation: (m) => ({ ...m, generation: '../x' }),
  foreignobj: (m) => ((m.segments[0].object = `victim/${m.generation}/0`), m),
  badsha: (m) => ((m.segments[0].sha256 = 'zz'), m),
  badtotal: (m) => ({ ...m, bytes: m.bytes + 1 }),
  pastcap: (m) => ((m.segments[0].bytes = 2 ** 45), (m.bytes = m.segments.reduce((n: number, s: M) => n + s.bytes, 0)), m),
  noncontig: (m) => ((m.tree.x['@leaf'].strides = [16]), (m.tree.x['@leaf'].shape = [131072]), m),
  oddstride: (m) => ((m.tree.x['@leaf'].strides = [12]), m),
  pastend: (m) => ((m.tree.x['@leaf'].offset = 8), m),
  overlap: (m) => ((m.tree.z = { '@leaf': { ...m.tree.y['@leaf'], shape: [1], offset: 4 } }), m),
  objectdtype: (m) => ((m.tree.y['@leaf'].dtype = '|O8'), m),
  alias: (m) => ((m.tree.y['@leaf'].dtype = 'int32'), m),
  atkey: (m) => ((m.tree['@evil'] = m.tree.y), m),
  negshape: (m) => ((m.tree.y['@leaf'].shape = [-1]), m),
  hugeshape: (m) => ((m.tree.y['@leaf'].shape = [2 ** 40, 2 ** 40]), (m.tree.y['@leaf'].strides = [2 ** 42, 4]), m),
  fracoffset: (m) => ((m.tree.y['@leaf'].offset = 0.5), m),
  badsegment: (m) => ((m.tree.y['@leaf'].segment = 7), m),
  deep: (m) => ((m.tree.deep = nest(80)), m),
  // attributes nested deeper than any stack: JSON.parse takes them, a recursive walk would not
  deepattrs: (m) => JSON.stringify({ ...m, attrs: { a: 0 } }).replace('{"a":0}', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`),
  badattr: (m) => ((m.attrs = { a: { '@bigint': 'x' } }), m),
  leafextra: (m) => ((m.tree.y.extra = 1), m),
  segnotlist: (m) => ({ ...m, segments: { 0: m.segments[0] } }),
};

/** What each variant is refused for (the start of the reason in the message). */
const reasons: Record<string, string> = {
  notjson: 'not JSON',
  version: 'not an ndshm remote manifest',
  othername: 'it names store',
  generation: 'bad generation',
  foreignobj: 'segments\\[0\\] names object',
  badsha: 'segments\\[0\\] has a bad sha256',
  badtotal: 'bytes',
  pastcap: 'its segments hold',
  noncontig: 'x: not a contiguous array',
  oddstride: 'x: strides are not multiples',
  pastend: 'x: bytes 8 to',
  overlap: 'y and z overlap',
  objectdtype: 'y: unsupported dtype',
  alias: 'y: dtype "int32" is not one of',
  atkey: 'bad key "@evil"',
  negshape: 'y: bad shape',
  hugeshape: 'y: bad shape',
  fracoffset: 'y: bad offset',
  badsegment: 'y: bad segment index',
  deep: 'tree is nested too deeply',
  deepattrs: 'it is nested too deeply to read',
  badattr: 'store "badattr": bad attribute',
  leafextra: 'y: a leaf with other keys',
  segnotlist: 'segments is not a list',
};

describe('hostile remote manifests', { skip }, () => {
  it('every variant is EBADHEADER and allocates nothing; the agent reports it', async () => {
    const bucket = freshBucket('hostile');
    const publisher = await fx.connect({ bucket, hostId: 'publisher' });
    await publisher.publish('base', { x: new Float64Array(262144).fill(1), y: new Int32Array([1, 2, 3]) });
    const nc = await connect({ servers: fx.server().url });
    try {
      const kv = await new Kvm(nc).open(`${bucket}-stores`);
      const base = (await kv.get('base'))!.json<M>();
      for (const [name, spoil] of Object.entries(variants)) {
        const copy = structuredClone(base);
        copy.segments.forEach((seg: M, i: number) => (seg.object = `${name}/${copy.generation}/${i}`)); // valid but for the spoiling
        const m = spoil({ ...copy, name });
        await kv.put(name, typeof m === 'string' ? m : JSON.stringify(m));
      }
      const host = await fx.host('hx', '64m');
      const w = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'hx', maxStoreBytes: 1 << 30 });
      for (const name of Object.keys(variants)) {
        const e = await ask<WorkerMessage>(w, { op: 'open', name }, 'opened');
        assert.equal(e.code, 'EBADHEADER', `${name}: ${JSON.stringify(e)}`);
        assert.match(e.message!, new RegExp(`remote manifest of store "${name}" is refused: ${reasons[name]}`));
        assert.deepEqual(host.shm(), [], `${name}: nothing allocated`);
      }
      // the valid one opens
      const ok = await ask<Opened>(w, { op: 'open', name: 'base' }, 'opened');
      assert.equal(ok.op, 'opened');
      await ask(w, { op: 'release' }, 'released');
      await exitWorker(w);

      const agent = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'hx' });
      await ask(agent, { op: 'replicate', stores: ['pastend'] }, 'agent');
      const failed = await event(agent, (s) => s.name === 'pastend');
      assert.equal(failed.state, 'failed');
      assert.equal(failed.error?.code, 'EBADHEADER');
      await exitWorker(agent);
      assert.deepEqual(host.shm(), []);
    } finally {
      await nc.close();
    }
  });

  it('keys such as __proto__ and constructor are ordinary keys of a null-prototype tree', async () => {
    const bucket = freshBucket('proto');
    const publisher = await fx.connect({ bucket, hostId: 'publisher' });
    const arrays = JSON.parse('{"__proto__": {"data": [1, 2, 3]}, "constructor": {"prototype": {"data": [4]}}}') as object;
    await publisher.publish('proto', arrays);
    const host = await fx.host('hp');
    const w = await startWorker(host, { servers: fx.server().url, bucket, hostId: 'hp' });
    const o = await ask<Opened>(w, { op: 'open', name: 'proto' }, 'opened');
    assert.deepEqual(Object.keys(o.digests).sort(), ['__proto__', 'constructor/prototype']);
    assert.equal(({} as Record<string, unknown>)['data'], undefined);
    await exitWorker(w);
  });
});

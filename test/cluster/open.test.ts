// Publish once, open from several simulated hosts with several processes each: every process reads
// the published bytes, and each host fetches once (counted by the processes themselves and by the
// server's own byte counter).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { type Child } from '../helpers/child.js';
import { type Opened, ask, clusterFixture, clusterSkip, exitWorker, float64Data, freshBucket, sha256, startWorker } from './setup.js';

const skip = clusterSkip();
const fx = clusterFixture(skip);

const count = 8 << 20; // 64 MiB of float64

describe('publish once, open on every host', { skip }, () => {
  for (const hostCount of [2, 3]) {
    it(`${hostCount} hosts x 3 processes: identical bytes, one fetch per host`, async () => {
      const bucket = freshBucket(`open${hostCount}`);
      const publisher = await fx.connect({ bucket, hostId: 'publisher' });
      const data = float64Data(count, hostCount);
      const extra = new Int32Array([1, 2, 3]);
      const info = await publisher.publish('table', { x: data, small: { y: { data: extra, attrs: { unit: 'K' } } } });
      assert.equal(info.bytes >= data.byteLength, true);
      const size = info.bytes;

      const hosts = await Promise.all(Array.from({ length: hostCount }, (_, i) => fx.host(`h${i}`)));
      const workers: Child[][] = await Promise.all(hosts.map((h) => Promise.all([0, 1, 2].map(() => startWorker(h, { servers: fx.server().url, bucket, hostId: h.id })))));
      const before = await fx.server().varz();
      // every process of every host asks at the same moment
      const answers = await Promise.all(workers.map((ws) => Promise.all(ws.map((w) => ask<Opened>(w, { op: 'open', name: 'table' }, 'opened')))));
      const after = await fx.server().varz();

      for (const [i, hostAnswers] of answers.entries()) {
        for (const a of hostAnswers) {
          assert.equal(a.op, 'opened', JSON.stringify(a));
          assert.equal(a.digests['x'], sha256(data));
          assert.equal(a.digests['small/y'], sha256(extra));
          assert.equal(a.generation, info.generation);
        }
        assert.equal(
          hostAnswers.reduce((n, a) => n + a.fetched, 0),
          1,
          `host h${i}: exactly one of its processes fetched (${hostAnswers.map((a) => a.fetched).join(', ')})`,
        );
      }
      const sent = after.out_bytes - before.out_bytes;
      assert.ok(sent >= hostCount * size, `the server sent ${sent} bytes, less than ${hostCount} x ${size}`);
      assert.ok(sent <= 1.02 * hostCount * size, `the server sent ${sent} bytes, more than 1.02 x ${hostCount} x ${size}`);

      // A later open on a host attaches the local copy: no transfer.
      const again = await ask<Opened>(workers[0]![1]!, { op: 'open', name: 'table' }, 'opened');
      assert.equal(again.fetched, 0);
      assert.equal(again.digests['x'], sha256(data));

      await Promise.all(workers.flat().map(exitWorker));
      // the copies were not persistent: they went with the processes that fetched them
      for (const h of hosts) assert.deepEqual(h.shm(), [], `host ${h.id}: ${h.shm().join(', ')}`);
    });
  }
});

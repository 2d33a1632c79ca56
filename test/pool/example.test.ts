// The worked example of docs/pools.md runs (examples/pool-reduce.ts, at 16 MiB).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

it('examples/pool-reduce.js sums 16 MiB with a process pool, a Counter counting every element', () => {
  const script = fileURLToPath(new URL('../../examples/pool-reduce.js', import.meta.url));
  const r = spawnSync(process.execPath, [script, '16'], { encoding: 'utf8', env: { ...process.env, NDSHM_PROCESSES: '2' } });
  assert.equal(r.status, 0, r.stderr);
  const n = (16 * 2 ** 20) / 8;
  const expected = (n / 1024) * ((1023 * 1024) / 2);
  assert.match(r.stdout, new RegExp(`^sum ${expected} of ${n} elements in \\d+ ms with 2 worker processes; counted ${n}\\n$`));
});

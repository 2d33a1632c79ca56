// ndshm/cluster's public surface, and the promise that the core never loads the optional NATS
// packages: only src/cluster imports them, and the CLI's cluster commands load them on demand.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { it } from 'node:test';

import * as cluster from '../../src/cluster/index.js';

const srcDir = fileURLToPath(new URL('../../src/', import.meta.url));

function jsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? jsFiles(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));
}

it('ndshm/cluster exports exactly its public API', () => {
  assert.deepEqual(Object.keys(cluster).sort(), ['Cluster', 'NdshmError', 'ReplicaAgent', 'isNdshmError']);
  const types = readFileSync(join(srcDir, 'cluster', 'cluster.d.ts'), 'utf8');
  assert.doesNotMatch(types, /\b(ensure|current)\(/, 'internals are stripped from the published types');
  assert.match(types, /private constructor\(\);/);
});

it('nothing outside src/cluster imports @nats-io statically', () => {
  const offenders: string[] = [];
  for (const file of jsFiles(srcDir)) {
    const rel = relative(srcDir, file);
    if (rel.startsWith('cluster/')) continue;
    const text = readFileSync(file, 'utf8');
    if (/^\s*import\s[^;]*from\s*['"]@nats-io\//m.test(text) || /^\s*import\s*['"]@nats-io\//m.test(text)) offenders.push(rel);
    if (/^\s*import\s[^;]*from\s*['"]\.\.?\/(\.\.\/)*cluster\//m.test(text)) offenders.push(`${rel} (static import of src/cluster)`);
  }
  assert.deepEqual(offenders, []);
});

// The package as a user gets it: `npm pack`, then installed into an empty project with install
// scripts disabled (npm's direction for dependencies' scripts), so that the prebuilt addon in the
// package is all there is. The project imports ndshm, creates and opens an array, and runs `ndshm demo`.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(`${tmpdir()}/ndshm-pack-`);
after(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: string[], cwd: string, timeout = 180_000): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
  assert.equal(r.status, 0, `${command} ${args.join(' ')} failed (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const reason = spawnSync(npm, ['--version'], { encoding: 'utf8' }).status === 0 ? undefined : 'npm is not on PATH';
if (reason !== undefined) console.log(`# package test skipped: ${reason}`);

describe('the packed package', { skip: reason ?? false }, () => {
  it('installs with scripts disabled and works from its prebuilt addon: import, create, open, ndshm demo', () => {
    // prepack's job, without rebuilding what this checkout's npm install built (and without the
    // prepare script recompiling dist/ under the feet of the tests running beside this one).
    run(process.execPath, [join(root, 'scripts/prebuild.mjs')], root);
    run(npm, ['pack', '--ignore-scripts', '--pack-destination', work], root);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack made no tarball');
    const listing = run('tar', ['-tzf', join(work, tarball)], work);
    assert.match(listing, /package\/prebuilds\/linux-x64\/ndshm\.napi\.glibc\.node/);
    assert.match(listing, /package\/dist\/examples\/demo\.js/);
    assert.doesNotMatch(listing, /package\/build\//, 'a local build was packed');
    assert.doesNotMatch(listing, /package\/dist\/test\//, 'tests were packed');

    const project = join(work, 'project');
    run('mkdir', ['-p', project], work);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', version: '1.0.0', type: 'module', private: true }));
    run(npm, ['install', '--ignore-scripts', '--no-package-lock', '--prefer-offline', join(work, tarball)], project);
    assert.deepEqual(readdirSync(join(project, 'node_modules/ndshm')).filter((f) => f === 'build'), [], 'something built the addon');

    writeFileSync(
      join(project, 'use.mjs'),
      `import { SharedNDArray, runtimeInfo } from 'ndshm';
       const a = SharedNDArray.from([1, 2, 3]);
       const b = SharedNDArray.open(a.handle);
       b.set(1, 20);
       console.log(JSON.stringify({ values: a.toArray(), uncounted: runtimeInfo().uncountedBuffers }));
       b.release();
       a.release();`,
    );
    const out = JSON.parse(run(process.execPath, ['use.mjs'], project)) as { values: number[] };
    assert.deepEqual(out.values, [1, 20, 3]);
    const demo = run(process.execPath, [join(project, 'node_modules/ndshm/dist/src/cli/main.js'), 'demo', '--size', '64MiB', '--workers', '2'], project);
    assert.match(demo, /speed-up|attach/i);
  });
});

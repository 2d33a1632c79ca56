// `npm install` of ndshm: use the prebuilt addon the package ships (prebuilds/, Linux x64 with glibc;
// Node-API is ABI-stable, so one file serves Node 20, 22 and 24) when it loads here; otherwise build
// from source with npm's own node-gyp. Installs that run no scripts (npm install --ignore-scripts, or
// npm's policy of unapproved install scripts) get the prebuilt addon as it is: src/native.ts looks
// for it after a local build.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const prebuilt = `${root}prebuilds/${process.platform}-${process.arch}/ndshm.napi.glibc.node`;

if (existsSync(prebuilt)) {
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(prebuilt)})`], { stdio: 'pipe', encoding: 'utf8' });
  if (probe.status === 0) {
    console.log(`ndshm: using the prebuilt addon (${process.platform}-${process.arch})`);
    process.exit(0);
  }
  console.log(`ndshm: the prebuilt addon does not load here (${probe.stderr.trim().split('\n')[0]}); building from source`);
}
const nodeGyp = process.env.npm_config_node_gyp;
const [command, args] = nodeGyp ? [process.execPath, [nodeGyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const build = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
process.exit(build.status ?? 1);

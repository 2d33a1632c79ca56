// `npm pack` (prepack): puts the addon built from this source (build/Release, made by npm install's
// node-gyp, or built here if missing) into prebuilds/ with prebuildify's naming, so that the package
// carries it and installs without a compiler or install scripts.

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = `${root}build/Release/ndshm.node`;
if (!existsSync(built)) {
  const nodeGyp = process.env.npm_config_node_gyp;
  const [command, args] = nodeGyp ? [process.execPath, [nodeGyp, 'rebuild']] : ['node-gyp', ['rebuild']];
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const dir = `${root}prebuilds/${process.platform}-${process.arch}`;
mkdirSync(dir, { recursive: true });
copyFileSync(built, `${dir}/ndshm.napi.glibc.node`);
console.log(`ndshm: prebuilt addon in ${dir}/ndshm.napi.glibc.node`);

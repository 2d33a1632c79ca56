// unlink, gc, doctor, demo.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statfsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { NdshmError, Segment, gc as collect, isNdshmError, runtimeInfo, unlink as unlinkStore } from '../index.js';
import { bytes, table } from './format.js';
import { parse } from './usage.js';

export const unlinkHelp = `
usage: ndshm unlink <name>

Removes the store <name> (its manifest, then its segments); if there is no such store, the ndshm
array or segment <name>. Processes that have it mapped keep their arrays until they close them.

  -h, --help    this text
`;

export function unlink(args: string[]): void {
  const parsed = parse(args, {}, [1, 1], unlinkHelp);
  if (parsed === undefined) return;
  const name = parsed.positionals[0]!;
  let storeError: unknown;
  try {
    unlinkStore(name);
    process.stdout.write(`removed store "${name}"\n`);
    return;
  } catch (err) {
    if (!isNdshmError(err, 'ENOENT') && !isNdshmError(err, 'EINVAL')) throw err;
    storeError = err;
  }
  try {
    Segment.unlink(name);
  } catch (err) {
    if (isNdshmError(err, 'ENOENT')) throw new NdshmError('ENOENT', `no store, array or segment named "${name}"`);
    if (isNdshmError(err, 'EINVAL')) throw storeError; // invalid either way: the store rule says it
    throw err;
  }
  process.stdout.write(`removed segment "${name}"\n`);
}

export const gcHelp = `
usage: ndshm gc [--dry-run]

Removes what crashed programs left in shared memory: arrays and stores that are not persistent and
whose owner process has ended, stores with missing segments, store segments no store lists, and
cute-shm manifests whose segments are gone. Segments without an ndshm header are never touched.

  -n, --dry-run   only say what would be removed
  -h, --help      this text
`;

export function gc(args: string[]): void {
  const parsed = parse(args, { 'dry-run': { type: 'boolean', short: 'n' } }, [0, 0], gcHelp);
  if (parsed === undefined) return;
  const dryRun = parsed.values['dry-run'] === true;
  const entries = collect({ dryRun });
  if (entries.length === 0) {
    process.stdout.write('nothing to remove\n');
    return;
  }
  const rows = entries.map((e) => [e.name, e.size > 0 ? bytes(e.size) : '-', dryRun ? 'would remove' : e.removed ? 'removed' : 'FAILED', e.reason]);
  process.stdout.write(`${table(['segment', 'size', 'action', 'why'], rows)}\n`);
}

export const doctorHelp = `
usage: ndshm doctor

What ndshm needs from this machine: Node and Node-API versions, whether attaching avoids V8's
external-memory accounting, the largest array one mapping can hold, /dev/shm's size and free space
(with a warning for the 64 MB container default), open-file limits, python3 with numpy.

  -h, --help    this text
`;

export function doctor(args: string[]): void {
  const parsed = parse(args, {}, [0, 0], doctorHelp);
  if (parsed === undefined) return;
  const warnings: string[] = [];
  const runtime = runtimeInfo();
  const rows: string[][] = [
    ['node', process.version],
    ['Node-API', process.versions.napi ?? '?'],
    ['platform', `${process.platform} ${process.arch}`],
    ['V8 sandbox', Number((process.config.variables as Record<string, unknown>)['v8_enable_sandbox'] ?? 0) === 1 ? 'on (external buffers are not allowed)' : 'off'],
    ['attach buffers', runtime.uncountedBuffers ? 'not counted by the GC (fast attach)' : 'Node-API fallback: V8 counts them, large attaches trigger GCs'],
    ['largest mapping', `${bytes(runtime.maxMappingLength)}${runtime.maxMappingLength <= 2 ** 32 ? ' (Node 22 and later lift this)' : ''}`],
  ];
  try {
    const s = statfsSync('/dev/shm');
    const size = s.blocks * s.bsize;
    const free = s.bavail * s.bsize;
    rows.push(['/dev/shm', `${bytes(size)}, ${bytes(free)} free`]);
    if (size <= 128 * 2 ** 20) warnings.push(`/dev/shm is only ${bytes(size)} (Docker's default is 64 MB): run containers with --shm-size=8g or --ipc=host`);
    else if (free < 2 ** 30) warnings.push(`/dev/shm has less than 1 GiB free (${bytes(free)})`);
  } catch {
    rows.push(['/dev/shm', 'missing']);
    warnings.push('/dev/shm is missing: ndshm needs a tmpfs there');
  }
  rows.push(['segments', `${Segment.list().length} of this user in /dev/shm`]);
  const py = spawnSync('python3', ['-c', 'import numpy, sys; print(sys.version.split()[0], numpy.__version__)'], { encoding: 'utf8' });
  rows.push(['python3 + numpy', py.status === 0 ? py.stdout.trim().replace(' ', ', numpy ') : 'not found (python/ndshm.py needs them)']);
  process.stdout.write(`${table(['check', 'result'], rows)}\n`);
  for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
}

export const demoHelp = `
usage: ndshm demo [--workers N] [--size 1GiB]

Puts 1 GiB of float64 into shared memory; one and then N worker processes open it by handle and sum
their parts. Prints attach times, the speed-up, and the memory all processes use (PSS) against what
private copies would take. Leaves /dev/shm as it found it, also on Ctrl-C.
`;

export async function demo(args: string[]): Promise<void> {
  if (args.includes('-h') || args.includes('--help')) {
    process.stdout.write(demoHelp.trimStart());
    return;
  }
  const script = fileURLToPath(new URL('../../examples/demo.js', import.meta.url));
  if (!existsSync(script)) throw new NdshmError('ENOENT', `the demo is not part of this installation (${script} is missing)`);
  const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit' });
  process.on('SIGINT', () => undefined); // the demo handles Ctrl-C itself
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  process.exitCode = code;
}

import { statSync } from 'node:fs';
import { extname } from 'node:path';

import { codeForErrno } from '../errors.js';
import { NdshmError, hdf5ToShm, listStores, npyToShm, npzToShm } from '../index.js';
import { bytes, count } from './format.js';
import { progressReporter } from './progress.js';
import { UsageError, parse } from './usage.js';

export const help = `
usage: ndshm load <name> <file.h5|.hdf5|.npy|.npz> [options]

Loads a file into shared memory as the store <name>: HDF5 groups become nested groups and datasets
arrays (with their attributes); a .npy is one array; a .npz one array per member. The store is
persistent: it stays until "ndshm unlink <name>".

  -o, --overwrite    replace an existing store of that name (readers keep their arrays)
      --no-progress  no progress bar
      --persistent   keep the store after this command ends (the default, as cute-shm-hdf5 does)
  -v, --verbose      list the arrays loaded; stack traces on errors
  -h, --help         this text
`;

type Loader = (path: string, name: string, options: { persistent: boolean; overwrite: boolean; progress?: (done: number, total: number) => void }) => Promise<{ arrays: number; bytes: number }> | { arrays: number; bytes: number };

type Kind = 'hdf5' | 'npy' | 'npz';

function kindOf(file: string): Kind {
  const ext = extname(file).toLowerCase();
  if (ext === '.h5' || ext === '.hdf5') return 'hdf5';
  if (ext === '.npy' || ext === '.npz') return ext.slice(1) as Kind;
  throw new UsageError(`cannot load ${JSON.stringify(file)}: the file must end in .h5, .hdf5, .npy or .npz`);
}

// hdf5ToShm loads h5wasm's WebAssembly only when it is called.
const loaders: Record<Kind, Loader> = { hdf5: hdf5ToShm, npy: npyToShm, npz: npzToShm };

export async function load(args: string[]): Promise<void> {
  const parsed = parse(
    args,
    { overwrite: { type: 'boolean', short: 'o' }, 'no-progress': { type: 'boolean' }, persistent: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' } },
    [2, 2],
    help,
  );
  if (parsed === undefined) return;
  const [name, file] = parsed.positionals as [string, string];
  const kind = kindOf(file);
  let regular: boolean;
  try {
    regular = statSync(file).isFile();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'ENOENT') throw new NdshmError('ENOENT', `no such file: ${file}`);
    throw new NdshmError(codeForErrno(code), `cannot read ${file} (${code})`, { cause: err });
  }
  if (!regular) throw new NdshmError('EFTYPE', `${file} is not a regular file`);
  const loader = loaders[kind];
  const bar = parsed.values['no-progress'] ? undefined : progressReporter(`loading ${file}`);
  let written: { arrays: number; bytes: number };
  try {
    written = await loader(file, name, { persistent: true, overwrite: parsed.values['overwrite'] === true, ...(bar ? { progress: (d: number, t: number) => bar.update(d, t) } : {}) });
  } finally {
    bar?.finish();
  }
  process.stdout.write(`loaded ${file} into store "${name}": ${count(written.arrays, 'array')}, ${bytes(written.bytes)}, persistent (ndshm unlink ${name} removes it)\n`);
  if (parsed.values['verbose']) {
    const info = listStores().find((s) => s.name === name);
    for (const a of info?.arrays ?? []) process.stdout.write(`  ${a.path.join('/')}  ${a.dtype}  (${a.shape.join(', ')})\n`);
  }
}

// Opening an HDF5 file with h5wasm, loaded only when first needed (the rest of ndshm never loads wasm).
// The file is checked first with plain fs calls: h5wasm reports a missing or foreign file only as a
// negative id after printing HDF5's error stack.

import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import { NdshmError, invalid } from '../../errors.js';
import type { InputFile } from '../files.js';

export type H5wasm = typeof import('h5wasm/node');
export type H5File = InstanceType<H5wasm['File']>;

let loading: Promise<H5wasm> | undefined;

/** h5wasm with its wasm module ready. */
export async function loadH5wasm(): Promise<H5wasm> {
  loading ??= (async () => {
    const h5 = await import('h5wasm/node');
    await h5.ready;
    return h5;
  })();
  try {
    return await loading;
  } catch (err) {
    loading = undefined;
    throw new NdshmError('ENOTSUP', `hdf5ToShm needs the h5wasm package (npm install h5wasm): ${(err as Error).message}`, { cause: err });
  }
}

// The superblock signature; it is at byte 0, or at 512, 1024, 2048, ... after a user block.
const signature = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A checked HDF5 file, open for reading (the caller closes `file.fd`), and where its superblock is. */
export interface CheckedHdf5File {
  readonly file: InputFile;
  readonly superblockAt: number;
}

/**
 * ENOENT, EACCES or EINVAL (naming `path`) unless `path` is a readable regular file with an HDF5
 * signature. Opened without blocking: a FIFO is EINVAL, not a wait for a writer.
 */
export function checkHdf5File(path: string): CheckedHdf5File {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NdshmError('ENOENT', `no HDF5 file at ${path}`, { cause: err });
    if (code === 'EACCES' || code === 'EPERM') throw new NdshmError('EACCES', `cannot read ${path}: permission denied`, { cause: err });
    throw invalid(`cannot open ${path}: ${(err as Error).message}`);
  }
  try {
    const stat = fstatSync(fd, { bigint: true });
    if (!stat.isFile()) throw invalid(`${path} is not a file`);
    const size = Number(stat.size);
    const head = Buffer.alloc(signature.length);
    for (let at = 0; at + signature.length <= size; at = at === 0 ? 512 : at * 2) {
      if (readSync(fd, head, 0, head.length, at) === head.length && head.equals(signature)) {
        return { file: { fd, size, path, dev: stat.dev, ino: stat.ino }, superblockAt: at };
      }
    }
    throw invalid(`${path} is not an HDF5 file (no HDF5 signature)`);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** True while `path` still names the file we opened (h5wasm opens it again by name). */
export function sameFile(path: string, file: InputFile): boolean {
  try {
    const st = statSync(path, { bigint: true });
    return st.dev === file.dev && st.ino === file.ino;
  } catch {
    return false;
  }
}

/** The file (checked by checkHdf5File), open read-only; EINVAL if HDF5 cannot open it (e.g. truncated). */
export function openHdf5(h5: H5wasm, path: string): H5File {
  const file = new h5.File(resolve(path), 'r');
  if (file.file_id < 0n) throw invalid(`${path}: HDF5 could not open it (is it damaged or truncated?)`);
  return file;
}

// Opening an HDF5 file with h5wasm, loaded only when first needed (the rest of ndshm never loads wasm).
// The file is checked first with plain fs calls: h5wasm reports a missing or foreign file only as a
// negative id after printing HDF5's error stack.

import fs, { closeSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import { NdshmError, invalid, isNdshmError } from '../../errors.js';
import { openRegular } from '../../files.js';
import type { InputFile } from '../files.js';

export type H5wasm = typeof import('h5wasm/node');
export type H5File = InstanceType<H5wasm['File']>;

let loading: Promise<H5wasm> | undefined;

// HDF5 prints its error stack ("HDF5-DIAG: ...", 20-90 lines) on stderr: h5wasm's wasm module writes
// file descriptor 2 with fs.writeSync. Around each (synchronous) call into h5wasm, quietly() keeps
// what it writes there (the last 200 lines) instead of letting it reach the terminal; an error then
// names the file and the one line that says what is wrong. Nothing else runs during such a call, so
// no other output is caught.
const diagnostics: string[] = [];
let partial = '';

export function quietly<T>(run: () => T): T {
  const writeSync = fs.writeSync;
  fs.writeSync = ((fd: number, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]): number => {
    if (fd !== 2) return (writeSync as (...a: unknown[]) => number)(fd, data, ...rest);
    let text: string;
    let length: number;
    if (typeof data === 'string') {
      text = data;
      length = Buffer.byteLength(data);
    } else {
      const offset = typeof rest[0] === 'number' ? rest[0] : 0;
      length = typeof rest[1] === 'number' ? rest[1] : data.byteLength - offset;
      text = Buffer.from(data.buffer, data.byteOffset + offset, length).toString('utf8');
    }
    const lines = (partial + text).split('\n'); // HDF5 writes a line in several pieces
    partial = lines.pop()!;
    diagnostics.push(...lines.filter((l) => l !== ''));
    if (diagnostics.length > 200) diagnostics.splice(0, diagnostics.length - 200);
    return length;
  }) as typeof fs.writeSync;
  try {
    return run();
  } finally {
    fs.writeSync = writeSync;
  }
}

/** Forgets what HDF5 printed so far (before an operation whose failure should be explained). */
export function clearDiagnostics(): void {
  diagnostics.length = 0;
  partial = '';
}

/** The innermost reason in HDF5's last error stack, e.g. "bad byte number in an address", or undefined. */
export function hdf5Reason(): string | undefined {
  for (let i = diagnostics.length - 1; i >= 0; i--) {
    const m = /#\d+: .* in ([\w]+)\(\): (.*)$/.exec(diagnostics[i]!);
    if (m !== null) return `${m[2]!.trim()} (${m[1]})`;
  }
  return undefined;
}

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
 * ENOENT, EACCES, EFTYPE (a FIFO, a directory: opened without blocking, then refused) or EINVAL
 * (naming `path`) unless `path` is a readable regular file with an HDF5 signature.
 */
export function checkHdf5File(path: string): CheckedHdf5File {
  let file: InputFile;
  try {
    file = openRegular(path, { noFollow: false });
  } catch (err) {
    if (isNdshmError(err, 'ENOENT')) throw new NdshmError('ENOENT', `no HDF5 file at ${path}`, { cause: err });
    throw err;
  }
  const { fd } = file;
  try {
    const size = file.size;
    const head = Buffer.alloc(signature.length);
    for (let at = 0; at + signature.length <= size; at = at === 0 ? 512 : at * 2) {
      if (readSync(fd, head, 0, head.length, at) === head.length && head.equals(signature)) {
        return { file, superblockAt: at };
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
    const st = statSync(path);
    return st.dev === file.dev && st.ino === file.ino;
  } catch {
    return false;
  }
}

/** The file (checked by checkHdf5File), open read-only; EINVAL if HDF5 cannot open it (e.g. truncated). */
export function openHdf5(h5: H5wasm, path: string): H5File {
  clearDiagnostics();
  let file: H5File;
  try {
    file = quietly(() => new h5.File(resolve(path), 'r'));
  } catch (err) {
    throw invalid(`${path}: HDF5 could not open it: ${hdf5Reason() ?? (err as Error)?.message ?? 'damaged or truncated?'}`);
  }
  if (file.file_id < 0n) throw invalid(`${path}: HDF5 could not open it: ${hdf5Reason() ?? 'is it damaged or truncated?'}`);
  return file;
}

// Atomic publication: the one function by which ndshm makes a complete file, or shared-memory
// object, appear under its final name (store manifests, cute-shm TOML files, exported .npy/.npz).

import { linkSync, lstatSync, unlinkSync } from 'node:fs';

import { NdshmError, codeForErrno, errnoName } from './errors.js';
import * as native from './native.js';

const unsupported = (why: string): boolean => why === 'EINVAL' || why === 'ENOSYS' || why === 'ENOTSUP' || why === 'EOPNOTSUPP';

/** How publishAtomically gives `temp` the name `final`. */
export type PublishMode = 'create' | 'replace';

/**
 * Gives the complete file (or shared-memory object) `temp` the name `final` in one step, so that
 * nobody ever sees a partial one. Both paths must be in one directory.
 *
 * 'create' fails with EEXIST if `final` exists (renameat2 RENAME_NOREPLACE: of two writers racing on
 * one name, exactly one succeeds). 'replace' swaps the two names (RENAME_EXCHANGE) when `final`
 * exists, so that the caller learns exactly which object it replaced, even when other writers replace
 * the same name at the same time: that object is then under `temp` (`exchanged: true`) for the caller
 * to dispose of. On a filesystem without RENAME_EXCHANGE it falls back to a plain rename
 * (`exchanged: false`, the replaced object is gone and unknown).
 */
export function publishAtomically(temp: string, final: string, mode: PublishMode): { exchanged: boolean } {
  if (mode === 'create') {
    const f = native.rename(temp, final, native.RenameFlags.NoReplace);
    if (f === undefined) return { exchanged: false };
    if (!unsupported(errnoName(f.errno))) throw publishError(f, final);
    // A filesystem without RENAME_NOREPLACE (NFS, CIFS, many FUSE ones): link() fails with EEXIST
    // just as atomically; then the temporary name goes.
    try {
      linkSync(temp, final);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw new NdshmError(codeForErrno(code), code === 'EEXIST' ? `"${final}" already exists` : `cannot publish "${final}" (link: ${code})`, { syscall: 'link', cause: err });
    }
    try {
      unlinkSync(temp);
    } catch {
      // published; a leftover temporary name is the only cost
    }
    return { exchanged: false };
  }
  // Another writer may create or remove `final` between two attempts; each attempt is atomic.
  for (let attempt = 0; ; attempt++) {
    const exchanged = native.rename(temp, final, native.RenameFlags.Exchange);
    if (exchanged === undefined) {
      // RENAME_EXCHANGE also swaps a file with a directory (or any other kind of file), where a
      // rename would have failed: put that back, and refuse.
      if (isRegular(temp)) return { exchanged: true };
      native.rename(temp, final, native.RenameFlags.Exchange);
      throw new NdshmError('EFTYPE', `cannot publish "${final}": it is not a regular file`, { syscall: 'renameat2' });
    }
    const why = errnoName(exchanged.errno);
    if (unsupported(why)) {
      const renamed = native.rename(temp, final, native.RenameFlags.Replace);
      if (renamed === undefined) return { exchanged: false };
      throw publishError(renamed, final);
    }
    if (why !== 'ENOENT' || attempt > 100) throw publishError(exchanged, final);
    const created = native.rename(temp, final, native.RenameFlags.NoReplace);
    if (created === undefined) return { exchanged: false };
    if (errnoName(created.errno) !== 'EEXIST') throw publishError(created, final);
  }
}

function publishError(f: native.SystemFailure, final: string): NdshmError {
  const name = errnoName(f.errno);
  const what = name === 'EEXIST' ? `"${final}" already exists` : `cannot publish "${final}" (${f.syscall}: ${name})`;
  return new NdshmError(codeForErrno(name), what, { syscall: f.syscall, errno: f.errno });
}

function isRegular(path: string): boolean {
  try {
    return lstatSync(path).isFile();
  } catch {
    return true; // gone meanwhile (another writer's exchange): nothing of the caller's to put back
  }
}

// Words for the errors the operating system reports about segments.

import { statfsSync } from 'node:fs';

import { NdshmError, codeForErrno, errnoName } from '../errors.js';
import { type SystemFailure, maxMappingLength } from '../native.js';
import { formatBytes } from '../options.js';
import { shmDir } from './shm-files.js';

function freeSpace(): string {
  try {
    const s = statfsSync(shmDir);
    return `${formatBytes(s.bavail * s.bsize)} free of ${formatBytes(s.blocks * s.bsize)}`;
  } catch {
    return 'free space unknown';
  }
}

export function tooBig(size: number, name: string): NdshmError {
  return new NdshmError(
    'ETOOBIG',
    `segment "${name}": ${formatBytes(size)} exceeds the largest mapping Node ${process.version} allows ` +
      `(${formatBytes(maxMappingLength)}); Node 22 and later lift this limit`,
    { segment: name },
  );
}

export function systemError(f: SystemFailure, name: string, size?: number): NdshmError {
  const options = { syscall: f.syscall, segment: name, errno: f.errno };
  const errno = errnoName(f.errno);
  const code = codeForErrno(f.errno);
  const at = `${f.syscall}("${name}")`;
  switch (errno) {
    case 'EEXIST':
      return new NdshmError(code, `a segment named "${name}" already exists (${at})`, options);
    case 'ENOENT':
      return new NdshmError(code, `no segment named "${name}" (${at})`, options);
    case 'EACCES':
    case 'EPERM':
      return new NdshmError(code, `permission denied for segment "${name}" (${at}: ${errno})`, options);
    case 'ENOSPC':
      return new NdshmError(
        code,
        `not enough shared memory for segment "${name}": ${formatBytes(size ?? 0)} requested, ${freeSpace()} in ${shmDir}`,
        options,
      );
    case 'EFBIG':
      return tooBig(size ?? 0, name);
    case 'ENODEV':
      return new NdshmError(code, `"${name}" in ${shmDir} is not a shared-memory segment (a FIFO, socket, directory or device): refusing to open it`, options);
    case 'ENOTSUP':
      return new NdshmError(code, `this runtime does not allow ArrayBuffers over external memory (${f.syscall})`, options);
    default:
      return new NdshmError(code, `${at} failed: ${errno}`, options);
  }
}

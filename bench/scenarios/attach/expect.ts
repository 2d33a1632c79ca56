// Sanity checks on what the children of the attach scenario report.

import { statSync } from 'node:fs';

import type { Segment } from '../../../src/index.js';

export function expectBytes(what: string, got: number, size: number): void {
  if (got !== size) throw new Error(`${what} mapped ${got} bytes, expected ${size}`);
}

/** Fails loudly if a child removed or replaced the segment (a Python resource tracker would). */
export function expectSegment(segment: Segment): void {
  let ino: number | undefined;
  try {
    ino = statSync(`/dev/shm/${segment.name}`).ino;
  } catch {
    ino = undefined;
  }
  if (ino !== segment.inode) throw new Error(`segment ${segment.name} was removed by a child process`);
}

// Small C programs under bench/c, compiled for one run into a temporary directory: floors that show
// what the kernel alone costs. Optional: without a C compiler the rows that need them are left out.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const sourceDir = fileURLToPath(new URL('../../../bench/c/', import.meta.url));

export interface CProgram {
  readonly path: string;
  /** Deletes the binary and its directory. */
  remove(): void;
}

/** Compiles bench/c/`name`.c with cc -O2; returns the reason when it cannot. */
export function compileC(name: string): CProgram | string {
  const dir = mkdtempSync(join(tmpdir(), 'ndshm-bench-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const path = join(dir, name);
  const r = spawnSync('cc', ['-O2', '-o', path, `${sourceDir}${name}.c`, '-lrt'], { encoding: 'utf8' });
  if (r.status !== 0) {
    remove();
    return `cc could not build bench/c/${name}.c (${(r.stderr || r.error?.message || '').trim().split('\n')[0]})`;
  }
  return { path, remove };
}

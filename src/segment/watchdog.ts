// Cleanup that survives SIGKILL. Exit handlers do not run on signals, a kill -9 or an abort, so each
// thread that owns non-persistent segments starts one small watchdog process in its own session (a
// process-group kill does not reach it) and tells it, over a pipe, which segments it owns. When the
// owner ends in any way, the kernel closes the pipe; the watchdog reads end-of-file, removes what is
// still owned and exits. It never outlives its owner by more than that.

import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { NdshmError, errnoName } from '../errors.js';
import * as native from '../native.js';
import { envTag, self } from './owner.js';

const mainPath = fileURLToPath(new URL('./watchdog-main.js', import.meta.url));
let pipe: number | undefined;

function start(): number {
  if (pipe !== undefined) return pipe;
  const fds = native.ownerPipe();
  if (!Array.isArray(fds)) {
    throw new NdshmError('ESYSTEM', `cannot start the cleanup watchdog: pipe2 failed (${errnoName(fds.errno)})`, {
      syscall: 'pipe2',
      errno: fds.errno,
    });
  }
  const [readEnd, writeEnd] = fds;
  // Options that make sense for the owner (a --require hook, the test runner's context) do not
  // belong in the watchdog.
  const env = { ...process.env };
  delete env['NODE_OPTIONS'];
  delete env['NODE_TEST_CONTEXT'];
  try {
    const grace = process.env['NDSHM_REMOTE_GRACE_MS'] ?? '5000';
    const child = spawn(process.execPath, [mainPath, String(self.pid), envTag.toString(), grace], {
      detached: true,
      stdio: [readEnd, 'ignore', 'ignore'],
      env,
    });
    child.unref();
  } finally {
    closeSync(readEnd);
  }
  pipe = writeEnd;
  return pipe;
}

/** From now on, `name` (inode `ino`) is removed when this thread's environment ends. */
export function track(name: string, ino: number): void {
  writeSync(start(), `+${ino} ${name}\n`);
}

/**
 * `name` is passing to another process (a 'remote' array): when this thread ends, wait for that
 * process to adopt it before removing it.
 */
export function markRemote(name: string): void {
  writeSync(start(), `~${name}\n`);
}

/** This thread no longer owns `name`. */
export function untrack(name: string): void {
  if (pipe !== undefined) writeSync(pipe, `-${name}\n`);
}

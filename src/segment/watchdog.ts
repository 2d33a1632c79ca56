// Cleanup that survives SIGKILL. Exit handlers do not run on signals, a kill -9 or an abort, so each
// thread that owns non-persistent segments starts one small watchdog process in its own session (a
// process-group kill does not reach it) and tells it, over a pipe, which segments it owns. When the
// owner ends in any way, the kernel closes the pipe; the watchdog reads end-of-file, removes what is
// still owned and exits.
//
// The watchdog is a helper, not a dependency: nothing here ever throws or blocks. The pipe is
// non-blocking; lines the watchdog does not take at once wait in a bounded queue. A watchdog that
// died (EPIPE) or stopped reading for a second (SIGSTOP) is replaced: the stuck one is killed, and a
// new one is handed the whole current state by lifetime.ts. If no watchdog can be started, the exit
// handlers remain (they cover everything but signals and kill -9) and a start is tried again later.

import { spawn } from 'node:child_process';
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import * as native from '../native.js';
import { envTag, processStartTime, self } from './owner.js';

const mainPath = fileURLToPath(new URL('./watchdog-main.js', import.meta.url));

/** Bytes of lines waiting for a watchdog that does not read before it is replaced. */
export const maxQueuedBytes = 1 << 20;
/** How long a full pipe is tolerated before the watchdog is considered stuck and replaced. */
export const stuckAfterMs = 1000;
const retryMs = 20;

interface Current {
  readonly fd: number;
  readonly pid: number;
  readonly startTime: number | undefined;
}

let current: Current | undefined;
let snapshot: () => string[] = () => [];
const queue: string[] = [];
let queuedBytes = 0;
let fullSince = 0;
let timer: NodeJS.Timeout | undefined;
let failedStartAt = 0;
let restarts = 0;

/** lifetime.ts: the lines that describe everything owned now (sent to a replacement watchdog). */
export function setSnapshot(lines: () => string[]): void {
  snapshot = lines;
}

function start(): Current | undefined {
  const fds = native.ownerPipe();
  if (!Array.isArray(fds)) {
    failedStartAt = Date.now();
    return undefined;
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
    child.on('error', () => undefined); // reported as EPIPE on the next write
    child.unref();
    const pid = child.pid ?? 0;
    current = { fd: writeEnd, pid, startTime: pid > 0 ? processStartTime(pid) : undefined };
  } catch {
    native.closeOwnerPipe(writeEnd);
    failedStartAt = Date.now();
  } finally {
    native.closeFd(readEnd); // the child has its copy
  }
  return current;
}

/** Sends one protocol line (see watchdog-main.ts). Never throws, never blocks. */
export function send(line: string): void {
  if (current === undefined) {
    // A new watchdog gets the whole state (which already includes this line) from the snapshot.
    if (snapshot().length === 0) return;
    if (failedStartAt !== 0 && Date.now() - failedStartAt < 1000) schedule();
    else replace();
    return;
  }
  if (queue.length > 0) {
    enqueue(line);
    flush();
    return;
  }
  write(line);
}

/** This thread's watchdog process, if one runs (for tests and `ndshm doctor`). */
export function watchdogPid(): number | undefined {
  return current?.pid;
}

function write(line: string): void {
  try {
    writeSync(current!.fd, line); // lines are shorter than PIPE_BUF: written whole or not at all
    restarts = 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
      enqueue(line);
      fullSince ||= Date.now();
      schedule();
    } else {
      replace(); // EPIPE: the watchdog is gone
    }
  }
}

function enqueue(line: string): void {
  queue.push(line);
  queuedBytes += line.length;
}

function flush(): void {
  while (queue.length > 0 && current !== undefined) {
    try {
      writeSync(current.fd, queue[0]!);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return replace();
      fullSince ||= Date.now();
      if (queuedBytes > maxQueuedBytes || Date.now() - fullSince > stuckAfterMs) return replace();
      return schedule();
    }
    queuedBytes -= queue.shift()!.length;
  }
  fullSince = 0;
  restarts = 0;
}

function schedule(): void {
  if (timer !== undefined) return;
  timer = setTimeout(() => {
    timer = undefined;
    if (current === undefined) {
      if (snapshot().length > 0) replace();
    } else flush();
    return;
  }, retryMs);
  timer.unref();
}

// Ends the current watchdog (killing it if it is stuck rather than dead) and hands a new one the
// whole state. A watchdog that keeps failing is retried on a timer, not in a loop.
function replace(): void {
  const old = current;
  current = undefined;
  queue.length = 0;
  queuedBytes = 0;
  fullSince = 0;
  if (old !== undefined) {
    // Kill first, then close: the end of the pipe means "the owner is gone" to a watchdog, and a stuck
    // one that woke up between the two would remove every segment of this live owner. Kill only the
    // process we started (a pid is reused once it has ended).
    if (old.pid > 0 && old.startTime !== undefined && processStartTime(old.pid) === old.startTime) {
      try {
        process.kill(old.pid, 'SIGKILL');
      } catch {
        // ended meanwhile
      }
    }
    native.closeOwnerPipe(old.fd);
  }
  if (++restarts > 3) {
    restarts = 0;
    failedStartAt = Date.now();
    schedule();
    return;
  }
  const fresh = start();
  if (fresh === undefined) return schedule();
  for (const line of snapshot()) {
    if (current !== fresh) return; // replaced again while handing over (it got the state itself)
    if (queue.length > 0) enqueue(line);
    else write(line);
  }
  if (queue.length > 0) schedule();
}

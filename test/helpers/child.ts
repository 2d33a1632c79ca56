// Real child processes for cross-process tests. Children are compiled scripts under
// dist/test/children; they talk JSON lines on stdout.

import { type ChildProcess, spawn } from 'node:child_process';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

// Children still running when a test file ends (its test failed before it ended them) are killed, so
// that a failure is reported rather than a test file that never exits.
const live = new Set<ChildProcess>();
after(() => {
  for (const p of live) p.kill('SIGKILL');
});

export const childrenDir = fileURLToPath(new URL('../children/', import.meta.url));

export interface Child {
  readonly process: ChildProcess;
  /** Resolves with the next message (a parsed JSON line) that satisfies `predicate`. */
  message<T = Record<string, unknown>>(predicate?: (m: T) => boolean): Promise<T>;
  send(line: string): void;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export interface SpawnOptions {
  detached?: boolean;
  uid?: number;
  gid?: number;
  command?: string[]; // run through a wrapper (e.g. unshare), the node command appended
  env?: Record<string, string>; // added to this process's environment
  timeoutMs?: number; // kill -9 the child after this long (a hang is then a failed test, not a stuck suite)
}

export function spawnChild(script: string, args: string[] = [], options: SpawnOptions = {}): Child {
  const nodeArgs = [`${childrenDir}${script}`, ...args];
  const [cmd, ...pre] = options.command ?? [process.execPath];
  const argv = options.command ? [...pre, process.execPath, ...nodeArgs] : nodeArgs;
  const proc = spawn(cmd!, argv, {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: options.detached ?? false,
    env: { ...process.env, ...options.env },
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
  });
  live.add(proc);
  proc.on('close', () => live.delete(proc));
  const messages: Record<string, unknown>[] = [];
  const waiters: { predicate: (m: never) => boolean; resolve: (m: never) => void }[] = [];
  let buffered = '';
  let stderr = '';
  const deliver = (): void => {
    for (let w = 0; w < waiters.length; w++) {
      const i = messages.findIndex((m) => waiters[w]!.predicate(m as never));
      if (i >= 0) {
        const [m] = messages.splice(i, 1);
        waiters.splice(w--, 1)[0]!.resolve(m as never);
      }
    }
  };
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (buffered + chunk).split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (line.trim() === '') continue;
      try {
        messages.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        messages.push({ text: line });
      }
    }
    deliver();
  });
  proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
    timedOut = true;
    proc.kill('SIGKILL');
  }, options.timeoutMs);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr: timedOut ? `${stderr}\n(killed: still running after ${options.timeoutMs} ms)` : stderr });
    }),
  );
  return {
    process: proc,
    message<T>(predicate: (m: T) => boolean = () => true) {
      return new Promise<T>((resolve, reject) => {
        waiters.push({ predicate: predicate as (m: never) => boolean, resolve: resolve as (m: never) => void });
        deliver();
        void exited.then((e) =>
          reject(new Error(`child ${script} exited (code ${e.code}, signal ${e.signal}) before the expected message\n${e.stderr}`)),
        );
      });
    },
    send(line: string) {
      proc.stdin!.write(`${line}\n`);
    },
    exited,
  };
}

/** Runs a child to completion; resolves with its messages and exit status. */
export function runChild(script: string, args: string[] = [], options: SpawnOptions = {}) {
  const child = spawnChild(script, args, options);
  const messages: Record<string, unknown>[] = [];
  const collect = (): void => {
    void child.message().then((m) => {
      messages.push(m);
      collect();
    }, () => undefined);
  };
  collect();
  return child.exited.then((e) => ({ ...e, messages }));
}

/** Runs `code` (an async function body with nd, send, next and args in scope) in a child process. */
export function spawnSnippet(code: string, args: string[] = [], options: SpawnOptions = {}): Child {
  return spawnChild('snippet.js', [code, ...args], options);
}

export function runSnippet(code: string, args: string[] = [], options: SpawnOptions = {}) {
  return runChild('snippet.js', [code, ...args], options);
}

// Long-lived child processes that talk over an IPC channel (child_process.fork): for benchmarks that
// start a child, warm it up, then time messages to it, or keep several children alive at once.

import { type ChildProcess, type Serializable, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The compiled child scripts (bench/children/*.ts -> dist/bench/children/*.js). */
export const childrenDir = fileURLToPath(new URL('../children/', import.meta.url));

export interface ForkOptions {
  /** 'json' (the default) or 'advanced' (the structured clone algorithm, for typed arrays). */
  serialization?: 'json' | 'advanced';
  /** Options for node itself, before the script. */
  nodeArgs?: readonly string[];
}

/** A forked child whose messages queue up until they are asked for. */
export class Forked {
  readonly child: ChildProcess;
  readonly #script: string;
  readonly #queue: unknown[] = [];
  #waiter: { resolve: (m: unknown) => void; reject: (e: Error) => void } | undefined;
  #stderr = '';
  #ended: Error | undefined;
  readonly #exited: Promise<void>;

  constructor(script: string, args: readonly string[] = [], options: ForkOptions = {}) {
    this.#script = script;
    this.child = fork(`${childrenDir}${script}`, [...args], {
      execArgv: [...(options.nodeArgs ?? [])],
      serialization: options.serialization ?? 'json',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.child.on('message', (m) => {
      if (this.#waiter !== undefined) {
        const { resolve } = this.#waiter;
        this.#waiter = undefined;
        resolve(m);
      } else this.#queue.push(m);
    });
    this.#exited = new Promise((resolve) => {
      const end = (why: string): void => {
        this.#ended ??= new Error(`child ${this.#script} ${why}${this.#stderr === '' ? '' : `:\n${this.#stderr}`}`);
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter?.reject(this.#ended);
        resolve();
      };
      this.child.on('error', (err) => end(`failed (${err.message})`));
      this.child.on('exit', (code, signal) => end(`exited (code ${code}, signal ${signal})`));
    });
  }

  /** The next message from the child (rejects if the child ends first). */
  next<T>(): Promise<T> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift() as T);
    if (this.#ended !== undefined) return Promise.reject(this.#ended);
    if (this.#waiter !== undefined) throw new Error('only one next() at a time');
    return new Promise<T>((resolve, reject) => (this.#waiter = { resolve: resolve as (m: unknown) => void, reject }));
  }

  send(message: Serializable): void {
    this.child.send(message);
  }

  /** Resolves when the child has exited (for whatever reason). */
  exited(): Promise<void> {
    return this.#exited;
  }

  /** Kills the child if it still runs and waits for it to be gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.#exited;
  }
}

/** Kills every child still running (for finally blocks: a failed run leaves no process behind). */
export async function killAll(children: readonly Forked[]): Promise<void> {
  await Promise.all(children.map((c) => c.kill()));
}

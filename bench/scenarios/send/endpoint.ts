// A receiver of the send scenario (bench/children/send-receiver.ts) as a worker thread or a forked
// child process, and round trips to it timed by the sender: from just before the message is built
// until the receiver's acknowledgement arrives (stamped in the message listener itself).

import { fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';

import { childrenDir } from '../../lib/forked.js';

export interface Ack {
  readonly ready?: boolean;
  readonly gc?: boolean;
  readonly length?: number;
  readonly last?: number;
}

export interface Trip {
  readonly ms: number;
  readonly ack: Ack;
}

const script = `${childrenDir}send-receiver.js`;

export class Endpoint {
  readonly label: string;
  readonly #post: (message: unknown, fail: (err: Error) => void) => void;
  readonly #stop: () => Promise<void>;
  #pending: { start: number; resolve: (t: Trip) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;
  /** Resolves once the receiver has loaded (its first message). */
  readonly ready: Promise<Trip>;

  private constructor(label: string, post: (message: unknown, fail: (err: Error) => void) => void, stop: () => Promise<void>) {
    this.label = label;
    this.#post = post;
    this.#stop = stop;
    this.ready = new Promise((resolve, reject) => (this.#pending = { start: performance.now(), resolve, reject }));
    this.ready.catch(() => undefined); // reported by whoever awaits it
  }

  #arrived(message: unknown): void {
    const now = performance.now();
    const p = this.#pending;
    if (p === undefined) return this.#fail(new Error(`${this.label}: a message nobody waited for: ${JSON.stringify(message)}`));
    this.#pending = undefined;
    p.resolve({ ms: now - p.start, ack: message as Ack });
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(err);
  }

  /** Builds the message with `make` and sends it; the clock starts before `make`. */
  roundTrip(make: () => unknown): Promise<Trip> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (this.#pending !== undefined) return Promise.reject(new Error(`${this.label}: a round trip is already under way`));
    return new Promise<Trip>((resolve, reject) => {
      const start = performance.now();
      this.#pending = { start, resolve, reject };
      try {
        this.#post(make(), (err) => this.#fail(err));
      } catch (err) {
        this.#pending = undefined;
        reject(err as Error);
      }
    });
  }

  /** Stops the receiver and waits until it is gone. */
  stop(): Promise<void> {
    this.#failure ??= new Error(`${this.label}: stopped`);
    return this.#stop();
  }

  static worker(): Endpoint {
    const worker = new Worker(script);
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    const endpoint: Endpoint = new Endpoint(
      'worker thread',
      (message) => worker.postMessage(message),
      async () => {
        await worker.terminate();
        await exited;
      },
    );
    worker.on('message', (m: unknown) => endpoint.#arrived(m));
    worker.on('error', (err) => endpoint.#fail(err));
    worker.on('exit', (code) => endpoint.#fail(new Error(`the worker thread exited (code ${code})`)));
    return endpoint;
  }

  static child(): Endpoint {
    const child = fork(script, [], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const endpoint: Endpoint = new Endpoint(
      "child process (serialization: 'advanced')",
      (message, fail) => {
        child.send(message as never, (err) => {
          if (err) fail(err);
        });
      },
      async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    );
    child.on('message', (m: unknown) => endpoint.#arrived(m));
    child.on('error', (err) => endpoint.#fail(err));
    child.on('exit', (code, signal) => endpoint.#fail(new Error(`the child exited (code ${code}, signal ${signal})${stderr === '' ? '' : `:\n${stderr}`}`)));
    return endpoint;
  }
}

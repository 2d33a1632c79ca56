// What the replicate scenario needs around ndshm/cluster besides the tests' nats-server
// (test/cluster/server.ts): simulated hosts (a mount namespace each with a private tmpfs on
// /dev/shm, made with unshare -m; processes started in it with nsenter -m). Root only.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const childrenDir = fileURLToPath(new URL('../children/', import.meta.url));

/** Why the scenario cannot run here, or undefined. */
export function clusterBenchUnavailable(): string | undefined {
  if (spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).stdout.trim() === '') return 'nats-server is not installed (apt-get install nats-server)';
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /dev/shm'], { stdio: 'ignore' });
  if (r.status !== 0) return 'simulated hosts need unshare -m (root)';
  if (spawnSync('sh', ['-c', 'command -v nsenter'], { encoding: 'utf8' }).stdout.trim() === '') return 'simulated hosts need nsenter';
  return undefined;
}

/** A process talking JSON lines (requests on stdin, answers on stdout). */
export class LineChild {
  readonly proc: ChildProcess;
  readonly #queue: unknown[] = [];
  readonly #waiters: ((m: unknown) => void)[] = [];
  #stderr = '';
  readonly exited: Promise<number | null>;

  constructor(command: string, args: string[]) {
    this.proc = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => (this.#stderr += d.toString()));
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      let m: unknown;
      try {
        m = JSON.parse(line);
      } catch {
        return; // not for us
      }
      const w = this.#waiters.shift();
      if (w !== undefined) w(m);
      else this.#queue.push(m);
    });
    this.exited = new Promise((resolve) => this.proc.on('close', (code) => resolve(code)));
  }

  next<T>(): Promise<T> {
    if (this.#queue.length > 0) return Promise.resolve(this.#queue.shift() as T);
    return new Promise<T>((resolve, reject) => {
      this.#waiters.push(resolve as (m: unknown) => void);
      void this.exited.then((code) => reject(new Error(`child exited (${code}) before answering: ${this.#stderr.slice(-2000)}`)));
    });
  }

  send(m: unknown): void {
    this.proc.stdin!.write(`${JSON.stringify(m)}\n`);
  }
}

export class BenchHost {
  readonly id: string;
  readonly #anchor: ChildProcess;

  private constructor(id: string, anchor: ChildProcess) {
    this.id = id;
    this.#anchor = anchor;
  }

  static async start(id: string, shmBytes: number): Promise<BenchHost> {
    const anchor = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=${shmBytes},mode=1777 tmpfs /dev/shm && echo ready && exec sleep 100000`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      anchor.stdout!.once('data', () => resolve());
      anchor.once('exit', (code) => reject(new Error(`host ${id} did not start (${code})`)));
    });
    return new BenchHost(id, anchor);
  }

  /** A bench child (dist/bench/children/`script`) inside this host. */
  child(script: string, args: string[]): LineChild {
    return new LineChild('setpriv', ['--pdeathsig', 'KILL', '--', 'nsenter', '-t', String(this.#anchor.pid), '-m', process.execPath, `${childrenDir}${script}`, ...args]);
  }

  /** Runs a command inside this host to completion. */
  async run(command: string[]): Promise<{ code: number | null; stderr: string }> {
    const p = spawn('nsenter', ['-t', String(this.#anchor.pid), '-m', ...command], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
    return { code, stderr };
  }

  async stop(): Promise<void> {
    if (this.#anchor.exitCode === null && this.#anchor.signalCode === null) {
      const exited = new Promise((r) => this.#anchor.once('exit', r));
      this.#anchor.kill('SIGKILL');
      await exited;
    }
  }
}

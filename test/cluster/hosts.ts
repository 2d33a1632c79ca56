// Simulated hosts on one machine: each is a mount namespace with a private tmpfs on /dev/shm (made with
// `unshare -m`, root only), anchored by a sleeping process; its processes are started in it with
// `nsenter -m`. All hosts share the loopback network and the PID namespace, so the test can signal
// any of their processes, and it reads a host's /dev/shm through /proc/<anchor>/root.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

import { type Child, type SpawnOptions, spawnChild } from '../helpers/child.js';

let cachedReason: string | undefined | null = null;

/** Why hosts cannot be simulated here, or undefined. */
export function hostsSkipReason(): string | undefined {
  if (cachedReason === null) {
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'mount -t tmpfs -o size=1m tmpfs /dev/shm'], { encoding: 'utf8' });
    const tools = spawnSync('sh', ['-c', 'command -v nsenter && command -v setpriv'], { encoding: 'utf8' });
    cachedReason = r.status !== 0 ? `simulated hosts need unshare -m as root (${r.stderr.trim() || `exit ${r.status}`})` : tools.status !== 0 ? 'simulated hosts need nsenter and setpriv (util-linux)' : undefined;
  }
  return cachedReason;
}

const anchors = new Set<ChildProcess>();
process.on('exit', () => {
  for (const a of anchors) a.kill('SIGKILL');
});

export class SimHost {
  readonly id: string;
  readonly #anchor: ChildProcess;
  readonly #children = new Set<Child>();

  private constructor(id: string, anchor: ChildProcess) {
    this.id = id;
    this.#anchor = anchor;
  }

  /** A host named `id` whose /dev/shm is a tmpfs of `shmSize` (mount's size=, e.g. '256m'). */
  static async start(id: string, shmSize = '256m'): Promise<SimHost> {
    // setpriv --pdeathsig: the host ends with this process, however it ends
    const anchor = spawn('setpriv', ['--pdeathsig', 'KILL', '--', 'unshare', '-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=${shmSize},mode=1777 tmpfs /dev/shm && echo ready && exec sleep 100000`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    anchors.add(anchor);
    anchor.on('exit', () => anchors.delete(anchor));
    await new Promise<void>((resolve, reject) => {
      let err = '';
      anchor.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      anchor.stdout!.once('data', () => resolve());
      anchor.once('exit', (code) => reject(new Error(`host ${id} did not start (exit ${code}): ${err}`)));
    });
    return new SimHost(id, anchor);
  }

  get pid(): number {
    return this.#anchor.pid!;
  }

  /** A child script (under dist/test/children, or a path relative to it) started inside this host. */
  spawn(script: string, args: string[] = [], options: SpawnOptions = {}): Child {
    const child = spawnChild(script, args, { timeoutMs: 110_000, ...options, command: ['setpriv', '--pdeathsig', 'KILL', '--', 'nsenter', '-t', String(this.pid), '-m'] });
    this.#children.add(child);
    void child.exited.then(() => this.#children.delete(child));
    return child;
  }

  /** The names in this host's /dev/shm. */
  shm(): string[] {
    return readdirSync(`/proc/${this.pid}/root/dev/shm`).sort();
  }

  /** The first bytes of a segment of this host's /dev/shm. */
  read(name: string): Buffer {
    return readFileSync(`/proc/${this.pid}/root/dev/shm/${name}`);
  }

  /** Ends every process it started (SIGKILL) and the host itself. */
  async stop(): Promise<void> {
    for (const c of this.#children) c.process.kill('SIGKILL');
    await Promise.all([...this.#children].map((c) => c.exited));
    if (this.#anchor.exitCode === null && this.#anchor.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.#anchor.once('exit', () => resolve()));
      this.#anchor.kill('SIGKILL');
      await exited;
    }
  }
}

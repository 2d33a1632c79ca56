// A private nats-server for the cluster tests: JetStream on, 127.0.0.1 only, a free port, its store in
// a temporary directory, max_payload raised to 8 MB (docs/cluster.md). Started per test file, always
// stopped (after() hooks, and at exit). Without the binary the tests skip with the reason, except in
// CI (CI=true), where .ci/run installs Debian's nats-server and its absence is a failure.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const binary = spawnSync('sh', ['-c', 'command -v nats-server'], { encoding: 'utf8' }).stdout.trim();

/** Why the cluster tests cannot run here, or undefined when they can. Throws in CI. */
export function skipReason(): string | undefined {
  if (binary !== '') return undefined;
  const reason = 'nats-server is not installed (Debian: apt-get install nats-server; .ci/run installs it)';
  if (process.env['CI'] === 'true') throw new Error(`CI must run the cluster tests: ${reason}`);
  return reason;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = tcpConnect(port, '127.0.0.1');
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

export interface Varz {
  in_bytes: number;
  out_bytes: number;
  in_msgs: number;
  out_msgs: number;
  connections: number;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export class NatsServer {
  readonly dir: string;
  port = 0;
  monitor = 0;
  #proc: ChildProcess | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(options: { maxPayload?: string; maxPending?: string } = {}): Promise<NatsServer> {
    const s = new NatsServer(mkdtempSync(join(tmpdir(), 'ndshm-nats-')));
    s.port = await freePort();
    s.monitor = await freePort();
    writeFileSync(
      join(s.dir, 'nats.conf'),
      [
        `listen: 127.0.0.1:${s.port}`,
        `http: 127.0.0.1:${s.monitor}`,
        `max_payload: ${options.maxPayload ?? '8MB'}`,
        `max_pending: ${options.maxPending ?? '64MB'}`,
        `jetstream { store_dir: "${join(s.dir, 'js')}" }`,
        '',
      ].join('\n'),
    );
    await s.#launch();
    return s;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  async #launch(): Promise<void> {
    const log = join(this.dir, 'server.log');
    // setpriv --pdeathsig: the server dies with this process, however it ends (a test file that the
    // runner kills on a timeout runs no exit handler)
    const proc = spawn('setpriv', ['--pdeathsig', 'KILL', '--', binary, '-c', join(this.dir, 'nats.conf'), '-l', log], { stdio: 'ignore' });
    running.add(proc);
    proc.on('exit', () => running.delete(proc));
    this.#proc = proc;
    const start = Date.now();
    while (!(await canConnect(this.port))) {
      if (proc.exitCode !== null || Date.now() - start > 15_000) {
        let text = '';
        try {
          text = readFileSync(log, 'utf8');
        } catch {
          // no log
        }
        proc.kill('SIGKILL');
        throw new Error(`nats-server did not start on port ${this.port}:\n${text.slice(-2000)}`);
      }
      await sleep(20);
    }
    // JetStream is ready a moment after the port: wait for the monitoring endpoint to say so.
    while (Date.now() - start < 15_000) {
      try {
        const r = await fetch(`http://127.0.0.1:${this.monitor}/jsz`);
        if (r.ok) return;
      } catch {
        // not yet
      }
      await sleep(20);
    }
  }

  /** The server's counters (bytes sent to clients: out_bytes). */
  async varz(): Promise<Varz> {
    const r = await fetch(`http://127.0.0.1:${this.monitor}/varz`, { signal: AbortSignal.timeout(10_000) });
    return (await r.json()) as Varz;
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s; or `signal`); its store directory stays for a restart. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.#proc;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    this.#proc = undefined;
  }

  /** Stops (by `signal`) and starts it again on the same port with the same store (JetStream data survives). */
  async restart(pauseMs = 0, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.stop(signal);
    if (pauseMs > 0) await sleep(pauseMs);
    await this.#launch();
  }

  /** Stops it and removes its store directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

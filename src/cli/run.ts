// ndshm run -n N -- <command> [args]: mpirun's role for host groups. Starts N processes of one
// command as one group (NDSHM_GROUP, NDSHM_RANK, NDSHM_SIZE in their environment; each calls
// HostGroup.fromEnv()), forwards signals, and when one of them fails stops the others.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { createInterface } from 'node:readline';

import { UsageError } from './usage.js';

export const runHelp = `
usage: ndshm run -n N [options] [--] <command> [args...]

Starts N processes of <command> as one host group, as mpirun does for MPI: each gets NDSHM_GROUP
(the group's name), NDSHM_RANK (0 to N-1) and NDSHM_SIZE (N) in its environment, and joins with
HostGroup.fromEnv(). When a process fails (a non-zero exit or a signal) the others are stopped
(SIGTERM, then SIGKILL after --grace); the exit status is then that process's (128 + signal number
for a signal), else 0.

  -n, --np N          how many processes (1 to 1024)
      --name NAME     the group's name (default: run- and random characters)
      --timeout MS    how long members wait for each other to join (NDSHM_GROUP_TIMEOUT; default 60000)
      --grace MS      how long stopped processes get before SIGKILL (default 3000)
      --tag-output    prefix each output line with [rank]
  -h, --help          this text
`;

interface RunOptions {
  n: number;
  name: string;
  timeout: number | undefined;
  grace: number;
  tag: boolean;
  command: string[];
}

function parseRun(args: string[]): RunOptions | undefined {
  let n: number | undefined;
  let name: string | undefined;
  let timeout: number | undefined;
  let grace = 3000;
  let tag = false;
  const integer = (flag: string, v: string | undefined, lo: number, hi: number): number => {
    if (v === undefined || !/^\d+$/.test(v) || Number(v) < lo || Number(v) > hi) throw new UsageError(`${flag} needs an integer from ${lo} to ${hi} (see --help)`);
    return Number(v);
  };
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    const eq = a.indexOf('=');
    const flag = eq > 0 && a.startsWith('--') ? a.slice(0, eq) : a;
    const inline = eq > 0 && a.startsWith('--') ? a.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? args[++i];
    switch (flag) {
      case '-h':
      case '--help':
        process.stdout.write(runHelp.trimStart());
        return undefined;
      case '-n':
      case '--np':
        n = integer(flag, value(), 1, 1024);
        break;
      case '--name':
        name = value();
        if (name === undefined || !/^[A-Za-z0-9._-]{1,26}$/.test(name) || /^\.+$/.test(name)) {
          throw new UsageError('--name needs 1 to 26 characters from [A-Za-z0-9._-] (see --help)');
        }
        break;
      case '--timeout':
        timeout = integer(flag, value(), 0, 2 ** 31 - 1);
        break;
      case '--grace':
        grace = integer(flag, value(), 0, 2 ** 31 - 1);
        break;
      case '--tag-output':
        tag = true;
        break;
      default:
        if (/^-n\d+$/.test(a)) {
          n = integer('-n', a.slice(2), 1, 1024);
          break;
        }
        throw new UsageError(`unknown option ${JSON.stringify(a)} (see --help)`);
    }
  }
  const command = args.slice(i);
  if (n === undefined) throw new UsageError('-n N is required (see --help)');
  if (command.length === 0) throw new UsageError('missing command (see --help)');
  return { n, name: name ?? `run-${randomBytes(6).toString('base64url')}`, timeout, grace, tag, command };
}

const signalNumber = (signal: NodeJS.Signals): number => (constants.signals as Record<string, number>)[signal] ?? 0;

export async function run(args: string[]): Promise<void> {
  const o = parseRun(args);
  if (o === undefined) return;
  const [cmd, ...rest] = o.command;
  const children: ChildProcess[] = [];
  const running = new Set<number>();
  let failed: { rank: number; status: number; what: string } | undefined;
  let stopping = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;

  const stopOthers = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    for (const r of running) children[r]!.kill(signal);
    killTimer = setTimeout(() => {
      for (const r of running) children[r]!.kill('SIGKILL');
    }, o.grace);
    killTimer.unref();
  };
  const forward = (signal: NodeJS.Signals): void => {
    for (const r of running) children[r]!.kill(signal);
    if (failed === undefined) failed = { rank: -1, status: 128 + signalNumber(signal), what: `ndshm run got ${signal}` };
  };
  const handlers: [NodeJS.Signals, () => void][] = (['SIGINT', 'SIGTERM', 'SIGHUP'] as NodeJS.Signals[]).map((s) => [s, () => forward(s)]);
  for (const [s, h] of handlers) process.on(s, h);

  const exits: Promise<void>[] = [];
  for (let rank = 0; rank < o.n; rank++) {
    const env = {
      ...process.env,
      NDSHM_GROUP: o.name,
      NDSHM_RANK: String(rank),
      NDSHM_SIZE: String(o.n),
      ...(o.timeout === undefined ? {} : { NDSHM_GROUP_TIMEOUT: String(o.timeout) }),
    };
    const child = spawn(cmd!, rest, { env, stdio: o.tag ? ['inherit', 'pipe', 'pipe'] : 'inherit' });
    children.push(child);
    running.add(rank);
    if (o.tag) {
      for (const [stream, out] of [[child.stdout!, process.stdout], [child.stderr!, process.stderr]] as const) {
        createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`[${rank}] ${line}\n`));
      }
    }
    exits.push(
      new Promise<void>((resolve) => {
        let spawnError: Error | undefined;
        child.on('error', (err) => {
          spawnError = err;
        });
        child.on('close', (code, signal) => {
          running.delete(rank);
          const status = spawnError !== undefined ? ((spawnError as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : 126) : signal !== null ? 128 + signalNumber(signal) : (code ?? 1);
          if (status !== 0 && failed === undefined) {
            const what =
              spawnError !== undefined
                ? `cannot start ${JSON.stringify(cmd)}: ${spawnError.message}`
                : signal !== null
                  ? `rank ${rank} (pid ${child.pid}) was killed by ${signal}`
                  : `rank ${rank} (pid ${child.pid}) exited with code ${code}`;
            failed = { rank, status, what };
            const others = running.size > 0 ? `; stopping the other ${running.size} process${running.size === 1 ? '' : 'es'}` : '';
            process.stderr.write(`ndshm run: ${what}${others}\n`);
            if (running.size > 0) stopOthers('SIGTERM');
          }
          resolve();
        });
      }),
    );
  }
  await Promise.all(exits);
  if (killTimer !== undefined) clearTimeout(killTimer);
  for (const [s, h] of handlers) process.off(s, h);
  if (failed !== undefined) {
    if (failed.rank === -1) process.stderr.write(`ndshm run: ${failed.what}\n`);
    process.exitCode = failed.status;
  }
}

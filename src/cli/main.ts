#!/usr/bin/env node
// ndshm: the command-line tool. A client of the public API, like any user.

import { readFileSync } from 'node:fs';

import { UsageError } from './usage.js';

// Commands are loaded when run, inside main's error handling: even the library failing to load (no
// addon for this platform, say) is a one-line error, never a stack trace without -v.
type Command = (args: string[]) => void | Promise<void>;
const commands: Record<string, () => Promise<Command>> = {
  load: async () => (await import('./load.js')).load,
  list: async () => (await import('./list.js')).list,
  info: async () => (await import('./info.js')).info,
  unlink: async () => (await import('./admin.js')).unlink,
  gc: async () => (await import('./admin.js')).gc,
  doctor: async () => (await import('./admin.js')).doctor,
  demo: async () => (await import('./admin.js')).demo,
  run: async () => (await import('./run.js')).run,
  push: async () => (await import('./remote.js')).push,
  pull: async () => (await import('./remote.js')).pull,
  agent: async () => (await import('./remote.js')).agent,
  remote: async () => (await import('./remote.js')).remote,
};

const help = `usage: ndshm <command> [options]

commands:
  load <name> <file>   load an .h5/.hdf5, .npy or .npz file into shared memory as a store
  list                 list stores, their arrays, integrity, and which processes map them
  info <name>          details of a store, array or segment
  unlink <name>        remove a store, array or segment
  gc                   remove what crashed programs left behind
  doctor               check this machine for what ndshm needs
  demo                 the 1 GiB shared-memory demo
  run -n N -- <cmd>    start N processes of <cmd> as one host group (like mpirun)
  push <store>         publish a store to a NATS server, for other hosts
  pull <store>         materialise a published store on this host
  agent                keep this host's stores in step with the NATS server
  remote ...           list, inspect, remove published stores (list|info|rm|gc)

"ndshm <command> --help" describes a command.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  const verbose = args.includes('-v') || args.includes('--verbose');
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(help);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version' || command === '-V') {
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    process.stdout.write(`ndshm ${pkg.version}\n`);
    return 0;
  }
  const load = Object.hasOwn(commands, command) ? commands[command] : undefined;
  if (load === undefined) {
    process.stderr.write(`ndshm: unknown command ${JSON.stringify(command)} (see ndshm --help)\n`);
    return 2;
  }
  try {
    const run = await load();
    await run(args);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ndshm ${command}: ${err.message}\n`);
      return 2;
    }
    // The library's hint names its option; on the command line it is a flag.
    const code = (err as { code?: unknown })?.code;
    const raw = err instanceof Error ? err.message : String(err);
    const message = code === 'EEXIST' && command === 'load' ? raw.replace('use overwrite to replace it', '-o replaces it') : raw;
    process.stderr.write(`ndshm ${command}: ${verbose ? message : message.split('\n')[0]}\n`);
    if (verbose) process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    return 1;
  }
}

// Whatever escapes (an error in a callback, a rejection nobody awaited): one line, the stack only with -v.
const verboseRun = process.argv.includes('-v') || process.argv.includes('--verbose');
const fatal = (err: unknown): void => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`ndshm: ${verboseRun ? message : message.split('\n')[0]}\n`);
  if (verboseRun && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  process.exit(1);
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

process.exitCode = await main(process.argv.slice(2));

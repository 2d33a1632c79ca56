#!/usr/bin/env node
// ndshm: the command-line tool. A client of the public API, like any user.

import { readFileSync } from 'node:fs';

import { NdshmError } from '../index.js';
import { demo, doctor, gc, unlink } from './admin.js';
import { info } from './info.js';
import { list } from './list.js';
import { load } from './load.js';
import { agent, pull, push, remote } from './remote.js';
import { UsageError } from './usage.js';

const help = `usage: ndshm <command> [options]

commands:
  load <name> <file>   load an .h5/.hdf5, .npy or .npz file into shared memory as a store
  list                 list stores, their arrays, integrity, and which processes map them
  info <name>          details of a store, array or segment
  unlink <name>        remove a store, array or segment
  gc                   remove what crashed programs left behind
  doctor               check this machine for what ndshm needs
  demo                 the 1 GiB shared-memory demo
  push <store>         publish a store to a NATS server, for other hosts
  pull <store>         materialise a published store on this host
  agent                keep this host's stores in step with the NATS server
  remote ...           list, inspect, remove published stores (list|info|rm|gc)

"ndshm <command> --help" describes a command.
`;

const commands: Record<string, (args: string[]) => void | Promise<void>> = { load, list, info, unlink, gc, doctor, demo, push, pull, agent, remote };

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
  const run = commands[command];
  if (run === undefined) {
    process.stderr.write(`ndshm: unknown command "${command}" (see ndshm --help)\n`);
    return 2;
  }
  try {
    await run(args);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`ndshm ${command}: ${err.message}\n`);
      return 2;
    }
    // The library's hint names its option; on the command line it is a flag.
    const message = err instanceof NdshmError && err.code === 'EEXIST' && command === 'load' ? err.message.replace('use overwrite to replace it', '-o replaces it') : (err as Error).message;
    process.stderr.write(`ndshm ${command}: ${message}\n`);
    if (verbose) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));

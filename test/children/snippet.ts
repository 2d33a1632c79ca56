// A child process that runs a test's inline snippet: argv[2] is the body of an async function with
//   nd    the ndshm module,
//   send  (message) => writes one JSON line to stdout,
//   next  () => the next line from stdin,
//   args  the remaining arguments.
// Uncaught errors are reported as {error, code} before the process fails.

import { createInterface } from 'node:readline';

import * as nd from '../../src/index.js';

const [code = '', ...args] = process.argv.slice(2);
const send = (message: unknown): void => {
  process.stdout.write(`${JSON.stringify(message, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
};

let lines: AsyncIterator<string> | undefined;
const next = async (): Promise<string> => {
  lines ??= createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const r = await lines.next();
  return r.done ? '' : r.value;
};

const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...a: string[]) => (
  ...x: unknown[]
) => Promise<unknown>;

try {
  await new AsyncFunction('nd', 'send', 'next', 'args', code)(nd, send, next, args);
} catch (err) {
  const e = err as { message?: string; code?: string; name?: string };
  send({ error: e.message, code: e.code, name: e.name });
  process.exitCode = 1;
}
if (lines !== undefined) process.stdin.destroy();

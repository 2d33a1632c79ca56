// Fresh child processes: each benchmark child prints one JSON line on stdout as its last line.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The compiled child scripts (bench/children/*.ts -> dist/bench/children/*.js). */
const childrenDir = fileURLToPath(new URL('../children/', import.meta.url));

export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** The last stdout line as JSON; throws with the child's stderr when it failed. */
export function lastJsonLine<T>(what: string, r: ProcessResult): T {
  const lines = r.stdout.trim().split('\n');
  if (r.code !== 0 || lines.length === 0 || lines[0] === '') {
    throw new Error(`${what} failed (code ${r.code}, signal ${r.signal}):\n${r.stderr || r.stdout}`);
  }
  return JSON.parse(lines[lines.length - 1]!) as T;
}

export interface NodeChildOptions {
  env?: NodeJS.ProcessEnv;
  /** Options for node itself, before the script. */
  nodeArgs?: readonly string[];
}

/**
 * Runs dist/bench/children/`script` in a fresh node (this one's binary, so `node24 dist/bench/run.js`
 * measures Node 24 throughout) and returns its JSON result.
 */
export async function runNodeChild<T>(script: string, args: readonly string[], options: NodeChildOptions = {}): Promise<T> {
  const r = await runProcess(process.execPath, [...(options.nodeArgs ?? []), `${childrenDir}${script}`, ...args], options.env);
  return lastJsonLine<T>(`node ${script}`, r);
}

/** This environment without `names` (so a child does not inherit the caller's settings). */
export function envWithout(...names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const n of names) delete env[n];
  return env;
}

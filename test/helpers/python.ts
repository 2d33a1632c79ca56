import { spawnSync } from 'node:child_process';

let cached: string | undefined | null = null;

/** Why Python interop tests cannot run here, or undefined when python3 with numpy is present. */
export function pythonMissing(): string | undefined {
  if (cached !== null) return cached;
  const r = spawnSync('python3', ['-c', 'import numpy; print(numpy.__version__)'], { encoding: 'utf8' });
  cached = r.status === 0 ? undefined : `python3 with numpy is not available (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  return cached;
}

/**
 * Runs a Python snippet; returns its stdout, throws with its stderr on failure (a signal such as
 * SIGSEGV included). With `timeoutMs`, a snippet still running then is killed and that is an error.
 */
export function python(code: string, args: string[] = [], input?: string, timeoutMs?: number): string {
  const r = spawnSync('python3', ['-c', code, ...args], { encoding: 'utf8', input, timeout: timeoutMs, killSignal: 'SIGKILL' });
  if (timeoutMs !== undefined && r.error !== undefined && (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') {
    throw new Error(`python3 did not finish within ${timeoutMs} ms (killed):\n${r.stderr}`);
  }
  if (r.status !== 0) throw new Error(`python3 failed (status ${r.status}, signal ${r.signal}):\n${r.stderr}`);
  return r.stdout;
}

// Python (with numpy) as the alternative to compare with, run as fresh python3 processes.

import { spawnSync } from 'node:child_process';

import { lastJsonLine, runProcess } from './processes.js';

export interface PythonInfo {
  readonly python: string;
  readonly numpy: string;
}

let probed: PythonInfo | string | undefined;

/** python3 and numpy versions, or why they cannot be used here. */
export function pythonInfo(): PythonInfo | string {
  if (probed === undefined) {
    const code = 'import json, platform, numpy; print(json.dumps({"python": platform.python_version(), "numpy": numpy.__version__}))';
    const r = spawnSync('python3', ['-c', code], { encoding: 'utf8' });
    probed =
      r.status === 0
        ? (JSON.parse(r.stdout) as PythonInfo)
        : `python3 with numpy is not available (${(r.stderr || r.error?.message || '').trim().split('\n').pop()})`;
  }
  return probed;
}

/** Runs `code` in a fresh python3; its last stdout line is the JSON result. */
export async function runPython<T>(code: string, args: readonly string[]): Promise<T> {
  const r = await runProcess('python3', ['-c', code, ...args]);
  return lastJsonLine<T>('python3', r);
}

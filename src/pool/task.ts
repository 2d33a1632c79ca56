// Tasks are named the Node way: a module (a file URL or a path) and the name of one of its exports.
// Workers import the module and call the export; nothing is sent but the two strings.

import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { invalid, show } from '../errors.js';

/**
 * A task: `module` is a file URL (`import.meta.url`), a `data:` URL or a file path (relative paths are
 * resolved against the current directory); `name` is the export to call. The export is a function,
 * or a task that `defineTask` made (its `fn` is called). `fn`, when present, is only for types.
 */
export interface TaskRef<A extends readonly unknown[] = unknown[], R = unknown> {
  readonly module: string | URL;
  readonly name: string;
  readonly fn?: (...args: A) => R;
}

/** A task that `defineTask` made: typed, and callable in its own module's export. */
export interface Task<A extends readonly unknown[], R> extends TaskRef<A, R> {
  readonly module: string;
  readonly fn: (...args: A) => R;
}

/**
 * A typed task, exported under `name` from the module `moduleUrl` (pass `import.meta.url`):
 *
 *     export const sumPart = defineTask(import.meta.url, 'sumPart', (a: SharedNDArray) => ...);
 *     await pool.apply(sumPart, [array]);   // typed arguments and result
 */
export function defineTask<A extends readonly unknown[], R>(moduleUrl: string | URL, name: string, fn: (...args: A) => R): Task<A, R> {
  if (typeof fn !== 'function') throw invalid(`defineTask: fn must be a function, got ${show(fn)}`);
  const t = normalizeTask({ module: moduleUrl, name }, 'defineTask');
  return Object.freeze({ module: t.module, name: t.name, fn });
}

/** A task checked and resolved: `module` is a URL string workers can import. */
export interface ResolvedTask {
  readonly module: string;
  readonly name: string;
}

const cache = new Map<string, string>();

function moduleUrlOf(module: unknown, where: string): string {
  if (module instanceof URL) module = module.href;
  if (typeof module !== 'string' || module.length === 0 || module.length > 65536) {
    throw invalid(`${where}: task.module must be a file URL or a path, got ${show(module)}`);
  }
  const known = cache.get(module);
  if (known !== undefined) return known;
  let url: string;
  if (module.startsWith('file:') || module.startsWith('data:')) {
    try {
      url = new URL(module).href;
    } catch {
      throw invalid(`${where}: task.module ${show(module)} is not a valid URL`);
    }
  } else if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(module) && !isAbsolute(module)) {
    throw invalid(`${where}: task.module must be a file: or data: URL or a file path, got ${show(module)}`);
  } else if (module.includes('\0')) {
    throw invalid(`${where}: task.module ${show(module)} is not a valid path`);
  } else if (!isAbsolute(module) && !module.startsWith('.')) {
    throw invalid(`${where}: task.module ${show(module)} is neither a URL nor a path (write "./${module}" for a relative path; package names are not resolved)`);
  } else {
    url = pathToFileURL(resolve(module)).href;
  }
  if (cache.size > 1024) cache.clear();
  cache.set(module, url);
  return url;
}

/** Checks a task given by the caller: an object with `module` and `name`. */
export function normalizeTask(task: unknown, where: string): ResolvedTask {
  if (typeof task !== 'object' || task === null) throw invalid(`${where}: a task is an object { module, name }, got ${show(task)}`);
  let module: unknown;
  let name: unknown;
  try {
    ({ module, name } = task as { module?: unknown; name?: unknown });
  } catch {
    throw invalid(`${where}: the task's module and name cannot be read`);
  }
  if (typeof name !== 'string' || name.length === 0 || name.length > 1024) {
    throw invalid(`${where}: task.name must be the name of an export, got ${show(name)}`);
  }
  return { module: moduleUrlOf(module, where), name };
}

/** The function an export holds: the export itself, or a defineTask task's fn. */
export function taskFunction(exported: unknown): ((...args: unknown[]) => unknown) | undefined {
  if (typeof exported === 'function') return exported as (...args: unknown[]) => unknown;
  if (typeof exported === 'object' && exported !== null) {
    const fn = (exported as { fn?: unknown }).fn;
    if (typeof fn === 'function') return fn as (...args: unknown[]) => unknown;
  }
  return undefined;
}

export type TaskFn = (...args: unknown[]) => unknown;
const modules = new Map<string, Promise<Record<string, unknown>>>();

/** The function a task names, imported once per thread (a failed import is tried again next time). */
export async function loadTask(module: string, name: string): Promise<TaskFn> {
  let m = modules.get(module);
  if (m === undefined) {
    m = import(module) as Promise<Record<string, unknown>>;
    modules.set(module, m);
    m.catch(() => modules.delete(module));
  }
  const mod = await m;
  const fn = Object.hasOwn(mod, name) ? taskFunction(mod[name]) : undefined;
  if (fn === undefined) throw new TypeError(`module ${module} has no export "${name}" that is a function or a defineTask task`);
  return fn;
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

/** A task's name for messages: "name" of file.js. */
export function taskLabel(t: ResolvedTask): string {
  const tail = t.module.startsWith('data:') ? 'a data: URL' : (t.module.split('/').pop() ?? t.module);
  return `"${t.name}" of ${tail}`;
}

// PyNitride's glob_store_attributes: attributes whose values live in the glob store, so that an
// instance sent to a pool task carries only keys (its other fields travel as usual), and arrives with
// the same attributes readable. TypeScript 5 standard decorators:
//
//     @globStoreAttributes('rmesh', 'splines')      // a class decorator, attributes by name
//     class Phonons { rmesh!: Mesh; ... }
//
//     @globStoreAttributes()                          // or auto-accessors, and the class decorator
//     class Phonons { @globStored accessor rmesh!: Mesh; }   // so workers revive it as a Phonons
//
// Keys are created on the first assignment of a value (undefined stays undefined, with no key) and
// belong to the thread that assigned it: only it can assign again (elsewhere: ENOTOWNER) or remove
// them. `instance[Symbol.dispose]()` removes them (the class decorator adds it; a class's own
// dispose runs first); a finalizer removes them too if the instance is collected first (a backstop).
// A worker revives the instance without running its constructor (as pickle does), as an instance of
// the class if the class decorator ran in that thread (the task's module imports it), else as a
// plain object with the same attributes and fields.

import { invalid, show } from '../../errors.js';
import { setOwn } from '../../tree.js';
import { globRead, globRemove, globStore, globUpdate, ownsGlobKey } from './store.js';

const recordKey = Symbol.for('ndshm.globKeys');

interface KeyRecord {
  cls: string;
  keys: Record<string, string>;
}

interface Registered {
  readonly cls: abstract new (...args: never[]) => unknown;
  readonly attrs: readonly string[];
}

// Per thread: decorated classes by name (several classes may share a name).
const classes = new Map<string, Registered[]>();

const cleanup = new FinalizationRegistry<KeyRecord>((record) => removeKeys(record));
const watched = new WeakSet<object>();

function removeKeys(record: KeyRecord): void {
  for (const key of Object.values(record.keys)) {
    if (!ownsGlobKey(key)) continue;
    try {
      globRemove(key);
    } catch {
      // removed meanwhile
    }
  }
}

function recordOf(obj: object): KeyRecord | undefined {
  return Object.hasOwn(obj, recordKey) ? ((obj as Record<symbol, unknown>)[recordKey] as KeyRecord) : undefined;
}

function ensureRecord(obj: object): KeyRecord {
  let record = recordOf(obj);
  if (record === undefined) {
    record = { cls: className(obj), keys: Object.create(null) as Record<string, string> };
    Object.defineProperty(obj, recordKey, { value: record, enumerable: false, configurable: true });
  }
  return record;
}

function className(obj: object): string {
  try {
    const c = (obj as { constructor?: { name?: unknown } }).constructor;
    return typeof c?.name === 'string' ? c.name : '';
  } catch {
    return '';
  }
}

function readAttr(obj: object, name: string): unknown {
  const key = recordOf(obj)?.keys[name];
  return key === undefined ? undefined : globRead(key);
}

function writeAttr(obj: object, name: string, value: unknown): void {
  const record = ensureRecord(obj);
  const key = record.keys[name];
  if (key !== undefined) return globUpdate(key, value);
  if (value === undefined) return;
  record.keys[name] = globStore(value);
  if (!watched.has(obj)) {
    watched.add(obj);
    cleanup.register(obj, record, record);
  }
}

/** Removes the keys this thread owns of an instance (its attributes then read as undefined). */
function disposeAttributes(obj: object): void {
  const record = recordOf(obj);
  if (record === undefined) return;
  cleanup.unregister(record);
  removeKeys(record);
  record.keys = Object.create(null) as Record<string, string>;
}

function checkNames(names: readonly unknown[]): string[] {
  const seen = new Set<string>();
  for (const n of names) {
    if (typeof n !== 'string' || n.length === 0 || n.length > 256 || n === '__proto__' || n === 'constructor') {
      throw invalid(`globStoreAttributes: attribute names are non-empty strings (not "__proto__" or "constructor"), got ${show(n)}`);
    }
    if (seen.has(n)) throw invalid(`globStoreAttributes: attribute ${show(n)} is named twice`);
    seen.add(n);
  }
  return [...seen];
}

function register(cls: abstract new (...args: never[]) => unknown, attrs: readonly string[]): void {
  const list = classes.get(cls.name) ?? [];
  list.push({ cls, attrs });
  classes.set(cls.name, list);
}

type Ctor = new (...args: any[]) => object; // eslint-disable-line @typescript-eslint/no-explicit-any

/**
 * A class decorator: the listed attributes live in the glob store (see the file comment), instances
 * get `[Symbol.dispose]()`, and workers that import the class revive instances as instances of it.
 */
export function globStoreAttributes(...names: string[]): <C extends Ctor>(cls: C, context: ClassDecoratorContext<C>) => C {
  const attrs = checkNames(names);
  return <C extends Ctor>(cls: C, context: ClassDecoratorContext<C>): C => {
    if (typeof cls !== 'function' || typeof cls.prototype !== 'object' || cls.prototype === null || typeof context !== 'object' || context === null || context.kind !== 'class') {
      throw invalid('globStoreAttributes(...) decorates a class (TypeScript 5 standard decorators, not experimentalDecorators)');
    }
    const proto = cls.prototype as object;
    for (const name of attrs) {
      Object.defineProperty(proto, name, {
        get(this: object) {
          return readAttr(this, name);
        },
        set(this: object, value: unknown) {
          writeAttr(this, name, value);
        },
        enumerable: false,
        configurable: true,
      });
    }
    const own = (proto as { [Symbol.dispose]?: unknown })[Symbol.dispose];
    Object.defineProperty(proto, Symbol.dispose, {
      value: function dispose(this: object) {
        try {
          if (typeof own === 'function') own.call(this);
        } finally {
          disposeAttributes(this);
        }
      },
      writable: true,
      configurable: true,
    });
    let out: C = cls;
    if (attrs.length > 0) {
      // Class fields (useDefineForClassFields) are own properties that hide the accessors: after
      // construction, move their values into the store.
      out = class extends cls {
        constructor(...args: any[]) { // eslint-disable-line @typescript-eslint/no-explicit-any
          super(...args);
          for (const name of attrs) {
            const d = Object.getOwnPropertyDescriptor(this, name);
            if (d === undefined || !('value' in d)) continue;
            delete (this as Record<string, unknown>)[name];
            writeAttr(this, name, d.value);
          }
        }
      };
      Object.defineProperty(out, 'name', { value: cls.name });
    }
    register(out, attrs);
    return out;
  };
}

/** An auto-accessor decorator: `@globStored accessor rmesh!: Mesh;` keeps the attribute in the glob store. */
export function globStored<This extends object, V>(
  target: ClassAccessorDecoratorTarget<This, V>,
  context: ClassAccessorDecoratorContext<This, V>,
): ClassAccessorDecoratorResult<This, V> {
  if (typeof target !== 'object' || target === null || typeof context !== 'object' || context === null || context.kind !== 'accessor' || context.static) {
    throw invalid('globStored decorates an instance auto-accessor: @globStored accessor name!: Type');
  }
  if (typeof context.name !== 'string') throw invalid('globStored: the accessor needs a string name');
  const name = context.name;
  return {
    get(this: This): V {
      return readAttr(this, name) as V;
    },
    set(this: This, value: V): void {
      writeAttr(this, name, value);
    },
    init(this: This, value: V): V {
      if (value !== undefined) writeAttr(this, name, value);
      return undefined as V;
    },
  };
}

// ----- crossing to workers (codec.ts) ------------------------------------------------------------

export interface GlobInstance {
  readonly cls: string;
  readonly attrs: string[];
  readonly keys: Record<string, string>;
  readonly props: Record<string, unknown>;
}

/** An instance with glob-stored attributes, as keys plus its other own fields; undefined otherwise. */
export function describeGlobInstance(v: unknown): GlobInstance | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const record = recordOf(v);
  if (record === undefined) return undefined;
  const keys = { ...record.keys };
  const props: Record<string, unknown> = {};
  for (const k of Object.keys(v)) if (!Object.hasOwn(keys, k)) setOwn(props, k, (v as Record<string, unknown>)[k]);
  return { cls: record.cls, attrs: Object.keys(keys), keys, props };
}

/** The instance a worker (or the caller, for a result) gets: see the file comment. */
export function reviveGlobInstance(cls: unknown, attrs: unknown, keys: unknown, props: unknown): object {
  if (typeof cls !== 'string' || !Array.isArray(attrs) || typeof keys !== 'object' || keys === null || typeof props !== 'object' || props === null) {
    throw invalid('a malformed glob-stored instance');
  }
  const names = attrs.filter((a): a is string => typeof a === 'string' && typeof (keys as Record<string, unknown>)[a] === 'string');
  const candidates = classes.get(cls) ?? [];
  const found = candidates.length === 1 ? candidates[0] : candidates.find((c) => c.attrs.length === names.length && names.every((n) => c.attrs.includes(n)));
  const obj: object = found === undefined ? {} : (Object.create(found.cls.prototype as object) as object);
  const record: KeyRecord = { cls, keys: Object.create(null) as Record<string, string> };
  for (const n of names) record.keys[n] = (keys as Record<string, string>)[n]!;
  Object.defineProperty(obj, recordKey, { value: record, enumerable: false, configurable: true });
  if (found === undefined) {
    for (const n of names) {
      if (n === '__proto__') continue;
      Object.defineProperty(obj, n, {
        get: () => readAttr(obj, n),
        set: (value: unknown) => writeAttr(obj, n, value),
        enumerable: true,
        configurable: true,
      });
    }
  }
  for (const [k, x] of Object.entries(props)) if (!names.includes(k)) setOwn(obj as Record<string, unknown>, k, x);
  return obj;
}

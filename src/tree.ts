// Trees whose keys come from outside (manifests, file members, HDF5 paths, attributes, messages).
// A key such as "__proto__", "constructor" or "prototype" must be an ordinary key: nodes are
// null-prototype objects, children are looked up as own properties only, and every key is defined
// as an own property (assignment to "__proto__" would replace an object's prototype instead).

import { invalid } from './errors.js';

/** How deep mapObjects goes (a message nested deeper is EINVAL, not a stack overflow). */
const maxDepth = 1000;

/** A node with no prototype: no key reaches Object.prototype through it. */
export function newNode<T = unknown>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Sets `node[key]` as an own, enumerable property, whatever the key. */
export function setOwn<T>(node: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(node, key, { value, writable: true, enumerable: true, configurable: true });
}

/** The child node under `key`, made (with `make`) if there is none. */
export function childNode<T>(node: Record<string, T>, key: string, make: () => T): T {
  if (!Object.hasOwn(node, key)) setOwn(node, key, make());
  return node[key]!;
}

/** What a mapObjects visitor returns to leave an object to the walk (it is copied, its contents visited). */
export const descend: unique symbol = Symbol('descend');

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * A copy of `value` (arrays, Maps, Sets and plain objects, nested; shared parts and cycles stay shared)
 * in which `visit` replaced the objects it recognises: it is called with every object first and
 * returns the replacement, or `descend` to have the object copied and its contents visited. Typed
 * arrays, ArrayBuffers and objects of other classes are kept as they are. Copies keep the original's
 * prototype (Object.prototype or null), and every key as an own key, "__proto__" included.
 */
export function mapObjects(value: unknown, visit: (v: object) => unknown, seen: Map<object, unknown> = new Map(), depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth > maxDepth) throw invalid(`a value nested more than ${maxDepth} levels deep`);
  const replaced = visit(value);
  if (replaced !== descend) return replaced;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  if (seen.has(value)) return seen.get(value);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(mapObjects(item, visit, seen, depth + 1));
    return out;
  }
  if (value instanceof Map) {
    const out = new Map();
    seen.set(value, out);
    for (const [k, v] of value) out.set(mapObjects(k, visit, seen, depth + 1), mapObjects(v, visit, seen, depth + 1));
    return out;
  }
  if (value instanceof Set) {
    const out = new Set();
    seen.set(value, out);
    for (const v of value) out.add(mapObjects(v, visit, seen, depth + 1));
    return out;
  }
  if (!isPlainObject(value)) return value;
  const out = Object.create(Object.getPrototypeOf(value) as object | null) as Record<string, unknown>;
  seen.set(value, out);
  for (const [k, v] of Object.entries(value)) setOwn(out, k, mapObjects(v, visit, seen, depth + 1));
  return out;
}

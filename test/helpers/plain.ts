// ndshm builds trees whose keys come from outside (store trees, attributes) on null-prototype objects
// (src/tree.ts); strict deep equality compares prototypes, so tests compare a plain copy.

/** A copy of `value` in which every null-prototype object is a plain object (typed arrays and the like as they are). */
export function plain<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => plain(v)) as T;
  if (typeof value !== 'object' || value === null) return value;
  const proto = Object.getPrototypeOf(value);
  if (proto !== null && proto !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) Object.defineProperty(out, k, { value: plain(v), enumerable: true, writable: true, configurable: true });
  return out as T;
}

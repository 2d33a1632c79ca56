// Trees whose keys come from outside (manifests, file members, HDF5 paths, attributes, messages).
// A key such as "__proto__", "constructor" or "prototype" must be an ordinary key: nodes are
// null-prototype objects, children are looked up as own properties only, and every key is defined
// as an own property (assignment to "__proto__" would replace an object's prototype instead).

/** A node with no prototype: no key reaches Object.prototype through it. */
export function newNode<T = unknown>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** Sets `node[key]` as an own, enumerable property, whatever the key. */
export function setOwn<T>(node: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(node, key, { value, writable: true, enumerable: true, configurable: true });
}

/** `node[key]` if it is an own property (never something inherited). */
export function getOwn<T>(node: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(node, key) ? node[key] : undefined;
}

/** The child node under `key`, made (with `make`) if there is none. */
export function childNode<T>(node: Record<string, T>, key: string, make: () => T): T {
  if (!Object.hasOwn(node, key)) setOwn(node, key, make());
  return node[key]!;
}

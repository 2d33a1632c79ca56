// Handles of sync objects: small JSON-safe plain objects that cross postMessage, child-process IPC and
// JSON.stringify. A handle is untrusted input: every field is checked, and the segment it names is
// checked again (docs/format.md).

import { invalid } from '../errors.js';
import type { KindName } from './layout.js';

export interface SyncHandle {
  /** Handle format version, 1. */
  readonly ndshm: 1;
  readonly kind: KindName;
  /** The segment's name (no leading slash). */
  readonly name: string;
  /** The object id in the segment's header, 16 hex digits: a reused name is told apart. */
  readonly id: string;
}

export function makeHandle(kind: KindName, name: string, id: bigint): SyncHandle {
  return { ndshm: 1, kind, name, id: id.toString(16).padStart(16, '0') };
}

const kinds: readonly string[] = ['mutex', 'counter', 'barrier', 'group'];

function isHexId(id: string): boolean {
  if (id.length !== 16) return false;
  for (let i = 0; i < 16; i++) {
    const c = id.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Checks a handle of `kind`; the name's characters are checked by the segment layer when it opens. */
export function checkHandle(handle: unknown, kind: KindName, where: string): { name: string; id: bigint } {
  if (typeof handle !== 'object' || handle === null || Array.isArray(handle)) {
    throw invalid(`${where}: a handle must be an object like ${kind}.handle, got ${handle === null ? 'null' : typeof handle}`);
  }
  const h = handle as Record<string, unknown>;
  if (h['ndshm'] !== 1) throw invalid(`${where}: not an ndshm handle (field "ndshm" must be 1)`);
  const k = h['kind'];
  if (k !== kind) {
    throw invalid(
      typeof k === 'string' && kinds.includes(k)
        ? `${where}: this is a ${k} handle, not a ${kind} handle`
        : `${where}: handle kind must be "${kind}", got ${JSON.stringify(k) ?? typeof k}`,
    );
  }
  const name = h['name'];
  if (typeof name !== 'string') throw invalid(`${where}: handle name must be a string, got ${typeof name}`);
  const id = h['id'];
  if (typeof id !== 'string' || !isHexId(id)) throw invalid(`${where}: handle id must be 16 lowercase hex digits`, name);
  const value = BigInt(`0x${id}`);
  if (value === 0n) throw invalid(`${where}: handle id must not be 0`, name);
  return { name, id: value };
}

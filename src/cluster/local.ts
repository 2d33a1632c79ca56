// This host's copy of a remote store: an ordinary ndshm store of the same name whose attributes carry
// the replica mark { bucket, generation, revision } (store attribute "ndshm.remote"). The mark says
// which generation the local store holds, so that an open finds out without any transfer whether it
// can attach at once.

import { isNdshmError } from '../errors.js';
import type { Manifest } from '../stores/manifest.js';
import * as lifetime from '../segment/lifetime.js';
import { manifestName } from '../stores/names.js';
import { readManifest, readManifestFile, removeManifestSegments } from '../stores/published.js';
import { type RemoteManifest, replicaAttr } from './manifest.js';

export interface ReplicaMark {
  readonly bucket: string;
  readonly generation: string;
  readonly revision: number;
}

export type LocalState =
  | { readonly kind: 'none' }
  | { readonly kind: 'replica'; readonly mark: ReplicaMark; readonly manifest: Manifest }
  | { readonly kind: 'store'; readonly manifest: Manifest | undefined };

/** The replica mark of a local manifest, if it has a well-formed one. */
export function markOf(m: Manifest): ReplicaMark | undefined {
  const attrs = m.attrs;
  if (typeof attrs !== 'object' || attrs === null || !Object.hasOwn(attrs, replicaAttr)) return undefined;
  const v = attrs[replicaAttr] as Record<string, unknown> | null;
  if (typeof v !== 'object' || v === null) return undefined;
  const { bucket, generation, revision } = v;
  if (typeof bucket !== 'string' || typeof generation !== 'string' || typeof revision !== 'number') return undefined;
  return { bucket, generation, revision };
}

/**
 * What this host has under the store's name: nothing, a replica (of some bucket and generation), or
 * another store (a corrupt manifest counts as one). EFTYPE, EACCES pass through.
 */
export function localState(name: string): LocalState {
  let m: Manifest | undefined;
  try {
    m = readManifest(name);
  } catch (err) {
    if (isNdshmError(err, 'EBADHEADER')) return { kind: 'store', manifest: undefined };
    throw err;
  }
  if (m === undefined) return { kind: 'none' };
  const mark = markOf(m);
  return mark === undefined ? { kind: 'store', manifest: m } : { kind: 'replica', mark, manifest: m };
}

/**
 * The local store holds `remote`'s generation: a replica of it, or the very store it was published
 * from on this host (same creation time and segment ids).
 */
export function isCurrent(state: LocalState, remote: RemoteManifest, bucket: string, host: string): boolean {
  if (state.kind === 'replica') return state.mark.bucket === bucket && state.mark.generation === remote.generation;
  if (state.kind === 'store' && state.manifest !== undefined && remote.source !== undefined) {
    const s = remote.source;
    const m = state.manifest;
    return s.host === host && s.created === m.created && s.segments.length === m.segments.length && s.segments.every((id, i) => m.segments[i]!.id === id);
  }
  return false;
}

/** Whether a fetch may replace what is there: nothing, or a replica of this bucket (unless forced). */
export function mayReplace(state: LocalState, bucket: string, force: boolean): boolean {
  return force || state.kind === 'none' || (state.kind === 'replica' && state.mark.bucket === bucket);
}

/** Removes the local replica of `name` if it is one of this bucket's; true if it removed it. */
export function removeReplica(name: string, bucket: string): boolean {
  let found;
  try {
    found = readManifestFile(name);
  } catch (err) {
    if (isNdshmError(err, 'EBADHEADER')) return false;
    throw err;
  }
  if (found === undefined || markOf(found.manifest)?.bucket !== bucket) return false;
  // Only the manifest that was read (by inode): a store published meanwhile stays.
  if (!lifetime.removeExpected(manifestName(name), { ino: found.ino })) return false;
  removeManifestSegments(found.manifest);
  return true;
}

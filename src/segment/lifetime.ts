// Segment lifetimes, in one place: which names this thread created and must remove, the watchdog
// that removes them if the thread dies, adoption of 'remote' arrays, publication under a final name,
// and every removal of a name in /dev/shm that ndshm makes on purpose.
//
// Rules (docs/safety.md):
// - The creator owns a segment. A thread that only attached never removes it, whatever a handle says.
// - An owned, non-persistent segment disappears when its owner ends: release()/close by the caller,
//   the exit handler (normal exit, uncaught exception), or the watchdog (signals, kill -9).
// - A 'remote' array is offered once: the first process to take the offer owns it; the creator can
//   withdraw the offer the same way (a compare-and-swap on the header's offer word).
// - A segment can be kept on one condition: "keep it if name F is inode I" (a store's data segments
//   are kept if their manifest was published), decided when the owner ends.

import { randomBytes } from 'node:crypto';

import { NdshmError, codeForErrno } from '../errors.js';
import { type PublishMode, publishAtomically } from '../publish.js';
import * as header from './header.js';
import { envTag, self } from './owner.js';
import { type Expectation, inspectSegment, removeIf, shmPath, unlinkName } from './shm-files.js';
import * as watchdog from './watchdog.js';

interface Owned {
  readonly ino: number;
  remote: boolean;
  keepIf: { readonly name: string; readonly ino: number } | undefined;
}

// Non-persistent segments this thread created (or adopted) and has not removed or handed on.
const owned = new Map<string, Owned>();
let exitHookInstalled = false;

function linesFor(name: string, o: Owned): string[] {
  const lines = [`+${o.ino} ${name}\n`];
  if (o.remote) lines.push(`~${name}\n`);
  if (o.keepIf !== undefined) lines.push(`=${o.keepIf.ino} ${o.keepIf.name} ${name}\n`);
  return lines;
}

// A replacement watchdog learns the whole state from this.
watchdog.setSnapshot(() => [...owned].flatMap(([name, o]) => linesFor(name, o)));

function removeOwnedAtExit(): void {
  for (const [name, o] of owned) {
    if (o.remote) continue; // the watchdog gives it time to be adopted
    if (o.keepIf !== undefined && inspectSegment(o.keepIf.name)?.ino === o.keepIf.ino) continue;
    removeIf(name, { ino: o.ino, tag: envTag });
  }
  owned.clear();
}

/** From now on `name` (inode `ino`) is removed when this thread ends, however it ends. */
export function own(name: string, ino: number): void {
  const o: Owned = { ino, remote: false, keepIf: undefined };
  owned.set(name, o);
  for (const line of linesFor(name, o)) watchdog.send(line);
  if (!exitHookInstalled) {
    process.on('exit', removeOwnedAtExit);
    exitHookInstalled = true;
  }
}

/** An owned array is on its way to another process ('remote'): at the owner's end, wait for adoption. */
export function markRemote(name: string): void {
  const o = owned.get(name);
  if (o === undefined) return;
  o.remote = true;
  watchdog.send(`~${name}\n`);
}

/** When this thread ends, keep `names` if `final` then names inode `ino` (they were published under it). */
export function keepIfPublished(names: readonly string[], final: string, ino: number): void {
  for (const name of names) {
    const o = owned.get(name);
    if (o === undefined) continue;
    o.keepIf = { name: final, ino };
    watchdog.send(`=${ino} ${final} ${name}\n`);
  }
}

/** This thread stops being responsible for removing `name`. Never fails. */
export function disown(name: string): void {
  if (owned.delete(name)) watchdog.send(`-${name}\n`);
}

export function isOwned(name: string): boolean {
  return owned.has(name);
}

/**
 * Removes `name` if it is still what this thread made (same inode, and for an array, still this
 * thread's per its header) and stops owning it. Returns whether it removed it.
 */
export function removeOwned(name: string, expect: Expectation = {}): boolean {
  const o = owned.get(name);
  disown(name);
  return removeIf(name, { ...(o === undefined ? {} : { ino: o.ino }), tag: envTag, ...expect });
}

/**
 * Removes a name that is not this thread's to own but that the caller is entitled to remove: a store
 * being replaced or unlinked by its user, gc's garbage, Segment.unlink. `expect` says what it must
 * still be. Returns whether it removed it.
 */
export function removeExpected(name: string, expect: Expectation): boolean {
  const removed = removeIf(name, expect);
  if (removed) disown(name);
  return removed;
}

/** Segment.unlink(name): removes the name whatever it is; ENOENT, EACCES, ... as NdshmErrors. */
export function removeByName(name: string): void {
  const code = unlinkName(name);
  if (code !== undefined) {
    const what = code === 'ENOENT' ? `no segment named "${name}"` : `cannot remove segment "${name}": ${code}`;
    throw new NdshmError(codeForErrno(code), what, { segment: name, syscall: 'shm_unlink' });
  }
  disown(name);
}

/**
 * Gives the complete object `temp` (owned by this thread) the name `final` in one step (see
 * publishAtomically). With `keep` the published object stays after this thread ends; otherwise this
 * thread now owns `final`. `exchanged`: the object `final` named before is now under `temp`.
 */
export function publish(temp: string, final: string, mode: PublishMode, keep: boolean): { exchanged: boolean } {
  const o = owned.get(temp);
  const result = publishAtomically(shmPath(temp), shmPath(final), mode);
  disown(temp);
  if (!keep && o !== undefined) own(final, o.ino);
  if (result.exchanged) {
    // What `final` named before is under `temp` now: the caller disposes of it, and if this thread
    // dies first, its watchdog does.
    const old = inspectSegment(temp);
    if (old !== undefined) own(temp, old.ino);
  }
  return result;
}

// ----- adoption of 'remote' arrays --------------------------------------------------------------

const headerWords = (buffer: ArrayBuffer): BigUint64Array => new BigUint64Array(buffer, 0, header.fixedLength / 8);

/** A fresh, nonzero adoption offer for a 'remote' array's header. */
export function newOffer(): bigint {
  return randomBytes(8).readBigUInt64LE() || 1n;
}

/**
 * Takes a 'remote' array that its creator offered under `offer` and nobody took yet: swaps the
 * header's offer word for 0 (one winner), then names this thread the owner. Never for persistent or
 * store segments (they carry no offer). `buffer` is a writable mapping of the segment.
 */
export function adopt(buffer: ArrayBuffer, name: string, ino: number, offer: bigint): boolean {
  if (offer === 0n) return false;
  const words = headerWords(buffer);
  const flags = new DataView(buffer, 0, header.fixedLength).getUint32(header.offsets.flags, true);
  if ((flags & (header.flagPersistent | header.flagStoreData)) !== 0) return false;
  if (Atomics.compareExchange(words, header.offsets.offer / 8, offer, 0n) !== offer) return false;
  Atomics.store(words, header.offsets.ownerTag / 8, envTag);
  Atomics.store(words, header.offsets.ownerPid / 8, BigInt(self.pid));
  Atomics.store(words, header.offsets.ownerStart / 8, BigInt(self.startTime));
  own(name, ino);
  return true;
}

/**
 * The creator takes back its offer (to remove the array itself): true if nobody adopted it first,
 * and from then on nobody can.
 */
export function withdraw(buffer: ArrayBuffer, offer: bigint): boolean {
  if (offer === 0n) return true;
  return Atomics.compareExchange(headerWords(buffer), header.offsets.offer / 8, offer, 0n) === offer;
}

/** The header still names this thread as the owner. */
export function ownedPerHeader(buffer: ArrayBuffer): boolean {
  return Atomics.load(headerWords(buffer), header.offsets.ownerTag / 8) === envTag;
}

// The host group's rendezvous segment: a sync segment (src/sync/layout.ts: header, magic NDSHMSYN)
// of kind 4 whose body is laid out here. docs/host-groups.md ("The group segment") is the spec.
//
// Offsets from the start of the segment; every integer little-endian.
//
//  off  size  field
//  128     4  state (futex word): bits 0-15 members joined, bit 30 formed (all joined), bit 31 broken
//  132     4  size: members of the group, 1 to 1024
//  136     4  broken reason (BrokenReason), 0 while intact
//  140     4  broken rank: the member the reason is about
//  144     4  record size in bytes (16384): one member's slot of the exchange area
//  148     4  broadcast area size in bytes (65536)
//  152     4  barrier name length (1 to 30)
//  160     8  barrier object id (the src/sync Barrier every collective meets at)
//  168    32  barrier name, ASCII
//  200     8  i64 host-wide tracked bytes (ResourceAllocation)
//  208     8  i64 host-wide tracked peak
//  256  64×size  member slots, one per rank: 0 robust "alive" mutex (40 bytes, held by the member's
//                thread while it is a member) · 40 u32 slot state (src/sync: 0 free, 1 member, 2 dead)
//                · 44 u32 pid · 48 u32 thread id · 52 u32 status (0 not joined, 1 joined, 2 left)
//  R = 256 + 64×size: the exchange area, two generations (collective number & 1), each with one
//                record per rank: 0 u32 collective number · 4 u32 op (bit 8: the member failed, the
//                payload is its error) · 8 u32 argument (the root of a broadcast) · 12 u32 payload
//                length · 16 payload (UTF-8 JSON)
//  B = R + 2×size×record size: the broadcast area, two generations of 65536 bytes

import * as syncLayout from '../sync/layout.js';

export const body = {
  state: 128,
  size: 132,
  reason: 136,
  brokenRank: 140,
  recordSize: 144,
  broadcastSize: 148,
  barrierNameLength: 152,
  barrierId: 160,
  barrierName: 168,
  hostTracked: 200,
  hostPeak: 208,
  slots: 256,
} as const;

export const slot = {
  size: 64,
  state: 40,
  pid: 44,
  tid: 48,
  status: 52,
} as const;

export const enum Status {
  None = 0,
  Joined = 1,
  Left = 2,
}

export const recordSize = 16384;
export const recordHeader = 16;
export const broadcastSize = 65536;
export const maxSize = 1024;
export const maxBarrierName = 32;

export const joinedMask = 0xffff;
export const formedBit = 0x40000000;
export const brokenBit = 0x80000000 | 0;

export const enum Op {
  Barrier = 1,
  Broadcast = 2,
  Gather = 3,
  Create = 4,
  Cleanup = 5,
}
export const failedBit = 0x100;
export const opNames: Record<number, string> = {
  [Op.Barrier]: 'barrier()',
  [Op.Broadcast]: 'broadcast()',
  [Op.Gather]: 'gather()',
  [Op.Create]: 'createSharedNdarray()',
  [Op.Cleanup]: 'cleanupSharedNdarray()',
};

export const enum BrokenReason {
  None = 0,
  JoinTimedOut = 1,
  MemberDied = 2,
  MemberLeft = 3,
  TimedOut = 4,
  Aborted = 5,
  JoinFailed = 6,
}

export interface Geometry {
  readonly size: number;
  readonly records: number;
  readonly broadcast: number;
  readonly bodyLength: number;
}

export function geometry(size: number, record = recordSize, bcast = broadcastSize): Geometry {
  const records = body.slots + size * slot.size;
  const broadcast = records + 2 * size * record;
  return { size, records, broadcast, bodyLength: broadcast + 2 * bcast - syncLayout.bodyOffset };
}

/** Where rank `rank`'s record of generation `seq & 1` starts. */
export function recordAt(g: Geometry, seq: number, rank: number): number {
  return g.records + ((seq & 1) * g.size + rank) * recordSize;
}

export function broadcastAt(g: Geometry, seq: number): number {
  return g.broadcast + (seq & 1) * broadcastSize;
}

/** The segment name of group `name`: the group's own name after a fixed prefix. */
export const segmentPrefix = 'grp.';
export const maxGroupName = 30 - segmentPrefix.length;

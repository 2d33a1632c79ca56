// Store names, and the names of the segments a store is made of.

import { randomBytes } from 'node:crypto';

import { validateName } from '../segment/names.js';

/** The manifest segment is `store.NAME`, so a store name has 6 characters fewer than a segment's. */
export const manifestPrefix = 'store.';
export const maxStoreNameLength = 24;

export function validateStoreName(name: unknown): string {
  return validateName(name, 'store name', maxStoreNameLength);
}

export const manifestName = (store: string): string => `${manifestPrefix}${store}`;

/** A fresh name for a data segment (sd-) or a manifest being written (st-). */
export const randomSegmentName = (prefix: 'sd' | 'st'): string => `${prefix}-${randomBytes(9).toString('base64url')}`;

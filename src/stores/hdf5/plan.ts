// Walking an HDF5 file into what the store will hold: one array per numeric dataset (one per field of
// a structured one), the attributes of each, and what was left out and why. Nothing is read but
// metadata and attributes; the data is copied later, once every array has its place.

import type { DType } from '../../dtype.js';
import { invalid } from '../../errors.js';
import type { Attrs } from '../attrs.js';
import { type HasAttributes, readAttributes } from './attrs.js';
import type { H5File, H5wasm } from './file.js';
import type { H5Module } from './slabs.js';
import { allConverted, conversionOf, elementBytes, memberConversion, numericElement, swapWidth, typeClass } from './types.js';
import { newNode, setOwn } from '../../tree.js';

type H5Group = InstanceType<H5wasm['Group']>;
type H5Dataset = InstanceType<H5wasm['Dataset']>;

export interface PlannedArray {
  readonly path: string[];
  readonly shape: number[];
  readonly dtype: DType;
  readonly attrs: Attrs;
}

/** One array's share of a dataset's elements: `size` bytes at `offset` of each (a field, or all of it). */
export interface PlannedPart {
  readonly array: number;
  readonly offset: number;
  readonly size: number;
  readonly swap: number;
}

export interface PlannedDataset {
  readonly h5path: string;
  readonly shape: readonly number[];
  readonly recordBytes: number;
  readonly parts: readonly PlannedPart[];
}

export interface SkippedObject {
  /** The HDF5 path of the dataset, group or link, or of the object whose attribute it is. */
  readonly path: string;
  readonly attribute?: string;
  readonly reason: string;
}

export interface FilePlan {
  readonly arrays: PlannedArray[];
  readonly datasets: PlannedDataset[];
  /** Attributes of groups (and of split compound datasets), by HDF5 path; the file's own under "/". */
  readonly groupAttrs: Record<string, Attrs>;
  readonly skipped: SkippedObject[];
}

// Deeper than this is most likely a cycle of links (h5wasm does not tell objects apart).
const maxDepth = 64;

/** Why `name` cannot be a store key (the rules of checkKey), or undefined. */
function badKey(name: string): string | undefined {
  if (name === '' || name.length > 255) return 'has a name ndshm keys cannot have (1-255 characters)';
  if (name.startsWith('@')) return 'has a name starting with "@", which ndshm keys may not';
  return undefined;
}

const childPath = (parent: string, name: string): string => (parent === '/' ? `/${name}` : `${parent}/${name}`);

export function planFile(h5: H5wasm, module: H5Module, file: H5File, options: { strict: boolean; where: string }): FilePlan {
  const { strict, where } = options;
  const plan: FilePlan = { arrays: [], datasets: [], groupAttrs: newNode<Attrs>(), skipped: [] };

  const skip = (path: string, reason: string, attribute?: string): void => {
    const what = attribute === undefined ? path : `${path} attribute "${attribute}"`;
    if (strict) throw invalid(`${where}: ${what} ${reason} (strict: nothing may be left out)`);
    plan.skipped.push(attribute === undefined ? { path, reason } : { path, attribute, reason });
  };
  const attrsOf = (obj: HasAttributes): Attrs => readAttributes(module, obj, (attribute, reason) => skip(obj.path, reason, attribute));

  const visitDataset = (ds: H5Dataset, keys: string[]): void => {
    const m = ds.metadata;
    const attrs = attrsOf(ds);
    if (m.shape === null) return skip(ds.path, 'is empty (an HDF5 null dataspace: no shape, no values)');
    const shape = m.shape;
    const conversion = conversionOf(m);
    const element = numericElement(m);
    if (typeof element !== 'string') {
      if (elementBytes(element) !== m.size) throw invalid(`${where}: ${ds.path} has ${m.size}-byte elements, expected ${elementBytes(element)}`);
      const array = plan.arrays.push({ path: keys, shape: [...shape, ...element.dims], dtype: element.dtype, attrs }) - 1;
      plan.datasets.push({ h5path: ds.path, shape, recordBytes: m.size, parts: [{ array, offset: 0, size: m.size, swap: swapWidth(element, allConverted(conversion)) }] });
      return;
    }
    if (m.type !== typeClass.compound) return skip(ds.path, `holds ${element}`);
    // A structured dataset: one array per field under a group named like the dataset (as cute-shm
    // splits it), the dataset's attributes on that group.
    const members = m.compound_type?.members ?? [];
    if (members.length === 0) return skip(ds.path, 'holds a compound type without fields');
    const parts = members.map((member, i): PlannedPart => {
      const field = numericElement(member);
      if (typeof field === 'string') {
        throw invalid(`${where}: ${ds.path}: field "${member.name}" of its compound type holds ${field}; only numeric fields can be split into arrays`);
      }
      const keyProblem = badKey(member.name);
      if (keyProblem !== undefined) throw invalid(`${where}: ${ds.path}: field "${member.name}" ${keyProblem}`);
      const array = plan.arrays.push({ path: [...keys, member.name], shape: [...shape, ...field.dims], dtype: field.dtype, attrs: {} }) - 1;
      return { array, offset: member.offset, size: elementBytes(field), swap: swapWidth(field, allConverted(memberConversion(conversion, i))) };
    });
    plan.datasets.push({ h5path: ds.path, shape, recordBytes: m.size, parts });
    if (Object.keys(attrs).length > 0) setOwn(plan.groupAttrs, ds.path, attrs);
  };

  // `real`: the paths, links resolved, of the groups being visited (the last is `group`'s). Soft
  // links are followed (as h5py's group[name] does), except into a group being visited: a cycle.
  const visitGroup = (group: H5Group, keys: string[], real: string[]): void => {
    if (keys.length > maxDepth) throw invalid(`${where}: ${group.path} is nested more than ${maxDepth} groups deep (a cycle of hard links?)`);
    const attrs = attrsOf(group);
    if (Object.keys(attrs).length > 0) setOwn(plan.groupAttrs, group.path, attrs);
    const here = real.at(-1)!;
    for (const name of group.keys()) {
      const path = childPath(group.path, name);
      const keyProblem = badKey(name);
      if (keyProblem !== undefined) {
        skip(path, keyProblem);
        continue;
      }
      const obj = group.get(name);
      if (obj instanceof h5.Group) {
        const target = module.get_symbolic_link(file.file_id, path) as string | null; // null: a hard link
        const resolved = target === null ? childPath(here, name) : target.startsWith('/') ? target : childPath(here, target);
        if (target !== null && real.some((p) => p === resolved || p.startsWith(`${resolved === '/' ? '' : resolved}/`))) {
          skip(path, `is a soft link to ${target}, a group that contains it (a cycle)`);
          continue;
        }
        visitGroup(obj, [...keys, name], [...real, resolved]);
      } else if (obj instanceof h5.Dataset) visitDataset(obj, [...keys, name]);
      else if (obj instanceof h5.BrokenSoftLink) skip(path, `is a soft link to ${obj.target}, which does not exist`);
      else if (obj instanceof h5.ExternalLink) skip(path, `is an external link (to ${obj.obj_path} in ${obj.filename})`);
      else if (obj instanceof h5.Datatype) continue; // a named type: no data to copy
      else skip(path, 'is an object h5wasm cannot open');
    }
  };

  visitGroup(file, [], ['/']);
  return plan;
}

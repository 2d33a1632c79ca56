import { type StoreInfo, listStores } from '../index.js';
import { bytes, count, shape, table } from './format.js';
import { type Mapper, mappedSegments } from './mapped.js';
import { parse } from './usage.js';

export const help = `
usage: ndshm list [-s|--short] [--json]

Every store of this user (ndshm stores in /dev/shm, cute-shm stores in /tmp/cute-shm): its arrays,
shapes, dtypes, sizes and attribute names, whether every segment is intact, and which processes
have its segments mapped.

  -s, --short   one line per store
      --json    machine-readable output
  -h, --help    this text
`;

const pids = (ms: readonly Mapper[] | undefined): string => (ms === undefined || ms.length === 0 ? '-' : ms.map((m) => m.pid).join(','));

function storeMappers(s: StoreInfo, mapped: Map<string, Mapper[]>): Mapper[] {
  const byPid = new Map<number, Mapper>();
  for (const a of s.arrays) for (const m of mapped.get(a.segment) ?? []) byPid.set(m.pid, m);
  return [...byPid.values()];
}

export function describeStore(s: StoreInfo, mapped: Map<string, Mapper[]>): string {
  const head = `${s.name}  (${s.format}${s.persistent === undefined ? '' : s.persistent ? ', persistent' : ', removed with its writer'}${s.ownerPid ? `, written by pid ${s.ownerPid}` : ''})  ` +
    `${count(s.arrays.length, 'array')}, ${bytes(s.bytes)}, ${s.intact ? 'intact' : 'BROKEN: segments missing (ndshm gc removes it)'}\n` +
    `  manifest: ${s.manifest}\n  mapped by: ${pids(storeMappers(s, mapped))}\n`;
  const rows = s.arrays.map((a) => [
    a.path.length > 0 ? a.path.join('/') : '?',
    a.path.length > 0 ? shape(a.shape) : '',
    a.dtype,
    bytes(a.bytes),
    a.attrs.join(',') || '-',
    a.present ? a.segment : `${a.segment} MISSING`,
    pids(mapped.get(a.segment)),
  ]);
  return head + table(['key', 'shape', 'dtype', 'size', 'attrs', 'segment', 'mapped by'], rows).replace(/^/gm, '  ') + '\n';
}

export function list(args: string[]): void {
  const parsed = parse(args, { short: { type: 'boolean', short: 's' }, json: { type: 'boolean' } }, [0, 0], help);
  if (parsed === undefined) return;
  const stores = listStores();
  const mapped = mappedSegments();
  if (parsed.values['json']) {
    const out = stores.map((s) => ({ ...s, mappedBy: storeMappers(s, mapped), arrays: s.arrays.map((a) => ({ ...a, mappedBy: mapped.get(a.segment) ?? [] })) }));
    process.stdout.write(`${JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
    return;
  }
  if (stores.length === 0) {
    process.stdout.write('no stores\n');
    return;
  }
  if (parsed.values['short']) {
    const rows = stores.map((s) => [s.name, s.format, String(s.arrays.length), bytes(s.bytes), s.intact ? 'yes' : 'NO', pids(storeMappers(s, mapped)), s.manifest]);
    process.stdout.write(`${table(['store', 'format', 'arrays', 'size', 'intact', 'mapped by', 'manifest'], rows)}\n`);
    return;
  }
  process.stdout.write(stores.map((s) => describeStore(s, mapped)).join('\n'));
}

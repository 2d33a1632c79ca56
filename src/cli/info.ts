import { NdshmError, Segment, SharedNDArray, listStores } from '../index.js';
import { bytes, shape } from './format.js';
import { describeStore } from './list.js';
import { mappedSegments } from './mapped.js';
import { parse } from './usage.js';

export const help = `
usage: ndshm info <name>

Details of the store <name> (its arrays and their attribute values), or, if no store has that name,
of the ndshm array or raw segment <name>.

  -h, --help    this text
`;

const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : ArrayBuffer.isView(x) ? Array.from(x as unknown as ArrayLike<number>) : x));

export function info(args: string[]): void {
  const parsed = parse(args, {}, [1, 1], help);
  if (parsed === undefined) return;
  const name = parsed.positionals[0]!;
  const mapped = mappedSegments();
  const store = listStores().find((s) => s.name === name);
  if (store !== undefined) {
    process.stdout.write(describeStore(store, mapped));
    if (Object.keys(store.attrs).length > 0) process.stdout.write(`  store attrs: ${show(store.attrs)}\n`);
    return;
  }
  const segment = Segment.list().find((s) => s.name === name);
  if (segment === undefined) throw new NdshmError('ENOENT', `no store, array or segment named "${name}"`);
  const users = (mapped.get(name) ?? []).map((m) => `${m.pid} (${m.command})`).join(', ') || '-';
  let array: SharedNDArray | undefined;
  try {
    array = SharedNDArray.open(name, { readOnly: true });
  } catch {
    array = undefined;
  }
  if (array === undefined) {
    process.stdout.write(`${name}: raw segment (no ndshm header), ${bytes(segment.size)}, mode ${segment.mode.toString(8)}\n  mapped by: ${users}\n`);
    return;
  }
  process.stdout.write(
    `${name}: ndshm array ${array.dtype.typestr} ${shape(array.shape)}, ${bytes(array.nbytes)} (segment ${bytes(segment.size)}), ` +
      `order ${array.order ?? 'strided'}, ${array.scope === null ? 'persistent' : 'removed with its owner'}\n  mapped by: ${users}\n`,
  );
  array.release();
}

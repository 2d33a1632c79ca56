// Command-line errors that are the user's to fix: exit code 2 and a pointer to --help.

import { parseArgs } from 'node:util';

export class UsageError extends Error {}

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

/** parseArgs with every command's -h/--help, and usage errors instead of TypeErrors. */
export function parse(args: string[], options: Options, positionals: [min: number, max: number], help: string): { values: Record<string, unknown>; positionals: string[] } | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, strict: true, options: { ...options, help: { type: 'boolean', short: 'h' } } });
  } catch (err) {
    // Node's message goes on about '--' positionals; the first sentence says it.
    throw new UsageError(`${(err as Error).message.split('. ')[0]!.split('\n')[0]!} (see --help)`);
  }
  if (parsed.values['help']) {
    process.stdout.write(help.trimStart());
    return undefined;
  }
  const [min, max] = positionals;
  if (parsed.positionals.length < min) throw new UsageError(`missing argument (see --help)`);
  if (parsed.positionals.length > max) throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[max])} (see --help)`);
  return parsed as { values: Record<string, unknown>; positionals: string[] };
}

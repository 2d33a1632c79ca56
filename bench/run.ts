// `npm run bench [-- --only NAME] [--runs N] [--quick] [--write]`: runs the scenario modules in
// bench/scenarios (each file is one scenario, named after it), prints a markdown table per scenario
// and, with --write, puts the tables into docs/benchmarks.md. Exits non-zero if a scenario failed or
// a segment of this run was left in /dev/shm.

import { readdirSync, unlinkSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';

import { type Section, docsPath, writeSections } from './lib/docs.js';
import { forceGc } from './lib/gc.js';
import { type ScenarioModule, markdownTable } from './lib/report.js';
import { isOurs, newEntries, shmEntries } from './lib/shm.js';

const usage = `usage: npm run bench -- [--only NAME[,NAME]] [--runs N] [--quick] [--write]
  --only   run these scenarios only (names: the files in bench/scenarios)
  --runs   runs per figure instead of each scenario's default
  --quick  small sizes and few runs, a smoke test (cannot be combined with --write)
  --write  replace each scenario's section of docs/benchmarks.md`;

function usageError(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        only: { type: 'string', multiple: true },
        runs: { type: 'string' },
        quick: { type: 'boolean', default: false },
        write: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (err) {
    return usageError((err as Error).message);
  }
}

const args = parseCommandLine();
if (args.help) {
  console.log(usage);
  process.exit(0);
}
const runs = args.runs === undefined ? undefined : Number(args.runs);
if (runs !== undefined && !(Number.isInteger(runs) && runs >= 1)) usageError('--runs needs a positive integer');
if (args.quick && args.write) usageError('--quick numbers are a smoke test: they do not go into the docs');

async function loadScenarios(): Promise<{ name: string; module: ScenarioModule }[]> {
  const dir = new URL('./scenarios/', import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith('.js'));
  const scenarios = await Promise.all(
    files.map(async (f) => ({ name: f.slice(0, -3), module: (await import(new URL(f, dir).href)) as ScenarioModule })),
  );
  return scenarios.sort((a, b) => a.module.order - b.module.order || a.name.localeCompare(b.name));
}

const all = await loadScenarios();
const only = args.only?.flatMap((o) => o.split(',')).filter((o) => o !== '');
const unknown = only?.filter((o) => !all.some((s) => s.name === o)) ?? [];
if (unknown.length > 0) usageError(`unknown scenario ${unknown.join(', ')}; there are: ${all.map((s) => s.name).join(', ')}`);
const selected = only === undefined ? all : all.filter((s) => only.includes(s.name));

const machine = `Node ${process.version}, ${process.platform} ${process.arch}, ${cpus().length} CPUs, ${Math.round(totalmem() / 2 ** 30)} GiB RAM`;
console.log(`# ndshm benchmarks (${machine})${args.quick ? ' — quick smoke run, the numbers mean nothing' : ''}\n`);

const shmBefore = shmEntries();
const sections: Section[] = [];
let failed = false;
for (const { name, module } of selected) {
  console.log(`## ${module.title} (${name})\n`);
  const started = performance.now();
  try {
    const result = await module.run({ runs, quick: args.quick });
    const date = new Date().toISOString().slice(0, 10);
    const body = [markdownTable(result.rows), `Measured ${date} with ${machine}.`, ...result.notes].join('\n\n');
    console.log(`${body}\n\n(${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
    sections.push({ name, title: module.title, body });
  } catch (err) {
    failed = true;
    console.error(`scenario ${name} failed:`, err);
  }
  forceGc(); // what a scenario allocated is freed before the next one starts
}

// Every scenario removes what it creates, also on failure; this is the check.
const leaked = newEntries(shmBefore).filter(isOurs);
for (const n of leaked) unlinkSync(`/dev/shm/${n}`);
console.log(`/dev/shm: ${leaked.length === 0 ? 'left as found' : `LEAKED ${leaked.join(', ')} (removed now)`}`);
if (leaked.length > 0) failed = true;

if (args.write && sections.length > 0) {
  writeSections(sections);
  console.log(`wrote ${sections.map((s) => s.name).join(', ')} to ${docsPath}`);
}
process.exit(failed ? 1 : 0);

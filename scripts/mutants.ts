// `npm run mutants [-- NAME...]`: a small mutation check (docs/testing.md). Each mutant is one plausible
// bug put into the compiled library (dist/src, so no rebuild per mutant) in the code where a missed
// bug costs most: segment lifetimes, the segment layer's checks, ndarray slicing and store
// publication. For each, the test files that should catch it run; a mutant is killed when they fail.
// The score is killed / all. Every file is restored afterwards, also on Ctrl-C. Not run in CI: it
// takes about 15 minutes.

import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Edit {
  /** A file under dist/src. */
  readonly file: string;
  /** Exact text that must occur once in the file... */
  readonly find: string;
  /** ...and what it becomes. */
  readonly replace: string;
}

interface Mutant extends Edit {
  readonly name: string;
  /** Test files to run (parts of their paths, as `npm test` takes them). */
  readonly tests: readonly string[];
  /** More edits made at the same time (one bug that spans two places). */
  readonly also?: readonly Edit[];
  /**
   * Set when the mutant is expected to survive because another check catches the same bug (defence
   * in depth): it is run and reported, but not counted in the score. Says which check.
   */
  readonly redundant?: string;
}

const mutants: Mutant[] = [
  // ----- lifetimes: adoption, withdrawal, cleanup ----------------------------------------------
  { name: 'adoption without the one-time swap', file: 'segment/lifetime.js', find: 'if (Atomics.compareExchange(words, header.offsets.offer / 8, offer, 0n) !== offer)', replace: 'if (false)', tests: ['fault/hostile-input', 'lifecycle/arrays'] },
  { name: 'adoption of arrays never offered (offer 0)', file: 'segment/lifetime.js', find: '    if (offer === 0n)\n        return false;', replace: '', tests: ['fault/hostile-input'] },
  { name: 'withdraw always succeeds', file: 'segment/lifetime.js', find: 'return Atomics.compareExchange(headerWords(buffer), header.offsets.offer / 8, offer, 0n) === offer;', replace: 'return true;', tests: ['fault/hostile-input', 'lifecycle/arrays'], redundant: 'the owner-tag checks of release and of removeIf' },
  { name: 'release skips its own adoption check', file: 'ndarray/block.js', find: 'return lifetime.withdraw(buffer, this.offer) && lifetime.ownedPerHeader(buffer);', replace: 'return true;', tests: ['fault/hostile-input', 'lifecycle/arrays'], redundant: 'removeIf\'s owner-tag check' },
  {
    name: 'release after adoption removes the adopter\'s array (no adoption or owner-tag check anywhere)',
    file: 'ndarray/block.js',
    find: 'return lifetime.withdraw(buffer, this.offer) && lifetime.ownedPerHeader(buffer);',
    replace: 'return true;',
    also: [{ file: 'segment/shm-files.js', find: 'if (expect.tag !== undefined && file.header !== undefined && file.header.ownerTag !== expect.tag)', replace: 'if (false)' }],
    tests: ['fault/hostile-input', 'lifecycle/arrays'],
  },
  { name: 'exit handler removes remote arrays at once', file: 'segment/lifetime.js', find: '        if (o.remote)\n            continue; // the watchdog', replace: '        if (false)\n            continue; // the watchdog', tests: ['lifecycle/arrays', 'fault/hostile-input'] },
  { name: 'watchdog gives remote arrays no grace', file: 'segment/watchdog-main.js', find: 'return file !== undefined && file.ino === ino && file.header !== undefined', replace: 'return false && file !== undefined && file.ino === ino && file.header !== undefined', tests: ['lifecycle/arrays'] },
  { name: 'watchdog ignores "keep if published"', file: 'segment/watchdog-main.js', find: 'else if (o.keepIf !== undefined && inspectSegment(o.keepIf.name)?.ino === o.keepIf.ino)', replace: 'else if (false)', tests: ['stores/publication'] },
  { name: 'a stopped watchdog is waited for, never replaced', file: 'segment/watchdog.js', find: 'Date.now() - fullSince > stuckAfterMs', replace: 'false', tests: ['fault/watchdog'] },
  { name: 'removal ignores the inode', file: 'segment/shm-files.js', find: 'if (expect.ino !== undefined && file.ino !== expect.ino)', replace: 'if (false)', tests: ['lifecycle/owner-exit'] },
  // ----- the segment layer's checks ---------------------------------------------------------------
  { name: 'another user\'s segment is attached', file: 'segment/segment.js', find: 'if (!allowOtherUsers && myUid !== -1 && m.uid !== myUid)', replace: 'if (false)', tests: ['fault/hostile-input'] },
  { name: 'a non-regular file is read', file: 'files.js', find: '        if (!st.isFile())\n', replace: '        if (false)\n', tests: ['fault/hostile-input'] },
  { name: 'data past the end of the segment', file: 'segment/header.js', find: 'if (dataOffset + dataLength > size)', replace: 'if (false)', tests: ['ndarray/array', 'segment/'] },
  { name: 'views with more elements than their memory', file: 'ndarray/open.js', find: 'if (elementCount(layout.shape) > count)', replace: 'if (false)', tests: ['fault/hostile-input', 'ndarray/'] },
  // ----- ndarray slicing ----------------------------------------------------------------------------
  { name: 'negative-step stop clamped to 0, not -1', file: 'ndarray/layout.js', find: 'const lower = step < 0 ? -1 : 0;', replace: 'const lower = step < 0 ? 0 : 0;', tests: ['ndarray/views'] },
  { name: 'negative-step start clamped to length, not length-1', file: 'ndarray/layout.js', find: 'const upper = step < 0 ? length - 1 : length;', replace: 'const upper = length;', tests: ['ndarray/views'] },
  { name: 'index 0 counted from the end', file: 'ndarray/layout.js', find: 'const w = v < 0 ? v + length : v;', replace: 'const w = v <= 0 ? v + length : v;', tests: ['ndarray/views'] },
  { name: 'element count off by one (positive steps)', file: 'ndarray/layout.js', find: 'Math.floor((stop - start + step - 1) / step)', replace: 'Math.floor((stop - start + step) / step)', tests: ['ndarray/views'] },
  // ----- store publication --------------------------------------------------------------------------
  { name: 'a new store replaces instead of failing (rename for link)', file: 'publish.js', find: 'const f = native.rename(temp, final, native.RenameFlags.NoReplace);', replace: 'const f = native.rename(temp, final, native.RenameFlags.Replace);', tests: ['stores/publication'] },
  { name: 'persistent data not kept on "published" (watchdog removes it)', file: 'stores/builder.js', find: 'lifetime.keepIfPublished(dataNames, final, temp.inode);', replace: '', tests: ['stores/publication'] },
  { name: 'the replaced store\'s segments are not removed', file: 'stores/builder.js', find: 'if (exchanged)', replace: 'if (false)', tests: ['stores/publication'] },
  { name: 'manifest keys starting with "@" accepted', file: 'stores/manifest.js', find: "if (key === '' || key.length > 255 || key.charCodeAt(0) === 64)", replace: "if (key === '' || key.length > 255)", tests: ['stores/stores', 'fault/hostile-input'] },
  { name: 'store keys starting with "@" accepted by the writer', file: 'stores/builder.js', find: "key === '' || key.startsWith('@') || key.length > 255", replace: "key === '' || key.length > 255", tests: ['stores/stores', 'api/state-matrix'] },
];

const root = fileURLToPath(new URL('../../', import.meta.url));
const only = process.argv.slice(2);
const chosen = mutants.filter((m) => only.length === 0 || only.some((o) => m.name.includes(o)));
const originals = new Map<string, string>();
const restore = (): void => {
  for (const [path, text] of originals) writeFileSync(path, text);
};
process.on('SIGINT', () => {
  restore();
  process.exit(130);
});

const rows: string[] = [];
let killed = 0;
let counted = 0;
let stale = 0;
for (const m of chosen) {
  const edits: Edit[] = [m, ...(m.also ?? [])];
  const texts = edits.map((e) => readFileSync(`${root}dist/src/${e.file}`, 'utf8'));
  const missing = edits.find((e, k) => {
    const at = texts[k]!.indexOf(e.find);
    return at < 0 || texts[k]!.indexOf(e.find, at + 1) >= 0;
  });
  if (missing !== undefined) {
    stale++;
    rows.push(`| ${m.name} | \`${missing.file}\` | STALE: the text to mutate is missing or not unique | |`);
    continue;
  }
  const started = Date.now();
  let result;
  try {
    edits.forEach((e) => {
      const path = `${root}dist/src/${e.file}`;
      if (!originals.has(path)) originals.set(path, readFileSync(path, 'utf8'));
      const text = readFileSync(path, 'utf8');
      const at = text.indexOf(e.find);
      writeFileSync(path, text.slice(0, at) + e.replace + text.slice(at + e.find.length));
    });
    result = spawnSync(process.execPath, [`${root}dist/test/run.js`, ...m.tests], { encoding: 'utf8', timeout: 600_000, killSignal: 'SIGKILL' });
  } finally {
    restore();
    originals.clear();
  }
  const failing = [...(result.stdout ?? '').matchAll(/^\s*not ok \d+ - (.*)$/gm)].map((x) => x[1]!).filter((t) => !t.startsWith('/'));
  const dead = result.status !== 0;
  if (m.redundant === undefined) {
    counted++;
    if (dead) killed++;
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const verdict = dead ? 'killed' : m.redundant !== undefined ? `survived, as expected: caught by ${m.redundant} (not counted)` : '**survived**';
  const file = edits.map((e) => `\`${e.file}\``).join(', ');
  rows.push(`| ${m.name} | ${file} | ${verdict} (${seconds} s) | ${dead ? (failing.slice(0, 2).join('; ') || `exit ${result.status ?? result.signal}`) : ''} |`);
  console.log(`${dead ? 'killed  ' : m.redundant !== undefined ? 'redundant' : 'SURVIVED'} ${m.name}`);
}

console.log(`\n| mutant | file | result | first failing tests |\n|---|---|---|---|\n${rows.join('\n')}\n`);
console.log(`mutation score: ${killed}/${counted} killed (${counted === 0 ? 0 : Math.round((100 * killed) / counted)}%)${stale > 0 ? `; ${stale} stale mutant(s) to update` : ''}`);
process.exit(stale > 0 || killed < counted ? 1 : 0);

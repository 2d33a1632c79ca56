// Writes a scenario's output into docs/benchmarks.md, between its markers
// <!-- bench:NAME:start --> and <!-- bench:NAME:end -->; a scenario without markers gets a new section.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const docsPath = fileURLToPath(new URL('../../../docs/benchmarks.md', import.meta.url));

export interface Section {
  readonly name: string;
  readonly title: string;
  readonly body: string;
}

export function replaceSection(doc: string, section: Section): string {
  const start = `<!-- bench:${section.name}:start -->`;
  const end = `<!-- bench:${section.name}:end -->`;
  const from = doc.indexOf(start);
  const to = doc.indexOf(end);
  if (from < 0 && to < 0) {
    return `${doc.trimEnd()}\n\n## ${section.title}\n\n${start}\n${section.body}\n${end}\n`;
  }
  if (from < 0 || to < from) throw new Error(`${docsPath}: the markers of "${section.name}" are missing or out of order`);
  return `${doc.slice(0, from + start.length)}\n${section.body}\n${doc.slice(to)}`;
}

export function writeSections(sections: readonly Section[]): void {
  let doc = readFileSync(docsPath, 'utf8');
  for (const s of sections) doc = replaceSection(doc, s);
  writeFileSync(docsPath, doc);
}

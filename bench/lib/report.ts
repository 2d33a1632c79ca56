// What a scenario module exports and returns, and how its rows become a markdown table.

import type { Summary } from './stats.js';

export interface ScenarioOptions {
  /** Runs per figure; undefined means the scenario's default. */
  readonly runs: number | undefined;
  /** Small sizes and few runs: a smoke run whose numbers mean nothing. */
  readonly quick: boolean;
}

/** One line of a scenario's table: a figure, the alternative measured in the same run, their ratio. */
export interface Row {
  readonly measure: string;
  readonly ndshm: string;
  readonly alternative: string;
  readonly ratio: string;
  readonly target: string;
}

export interface ScenarioResult {
  readonly rows: Row[];
  /** Sentences printed under the table (what exactly was compared, versions, caveats). */
  readonly notes: string[];
}

/** The shape of a module in bench/scenarios/: the file name is the scenario's name. */
export interface ScenarioModule {
  readonly title: string;
  /** Position in the output; scenarios of later layers take higher numbers. */
  readonly order: number;
  run(options: ScenarioOptions): Promise<ScenarioResult>;
}

export const none = '—';

/** About three significant digits, without exponents. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const abs = Math.abs(x);
  if (abs >= 100) return x.toFixed(0);
  if (abs >= 10) return x.toFixed(1);
  if (abs >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

/** "12.3 µs (10.1–15.0)": the median, then min–max. */
export function figure(s: Summary, unit: string): string {
  return `${num(s.median)} ${unit} (${num(s.min)}–${num(s.max)})`;
}

/** Decimal gigabytes per second. */
export function gbPerSecond(bytes: number, ms: number): number {
  return bytes / (ms / 1000) / 1e9;
}

/** A ratio of medians, saying what it compares ("time" or "throughput"). */
export function ratio(ours: number, theirs: number, of: 'time' | 'throughput'): string {
  return `${num(ours / theirs)}× the ${of}`;
}

export function target(goal: string, met: boolean): string {
  return `${goal}: ${met ? 'met' : '**missed**'}`;
}

export function markdownTable(rows: readonly Row[]): string {
  const cell = (s: string): string => s.replace(/\|/g, '\\|');
  const lines = [
    '| Measure | ndshm | Alternative (same run) | Ratio | Target |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| ${[r.measure, r.ndshm, r.alternative, r.ratio, r.target].map(cell).join(' | ')} |`),
  ];
  return lines.join('\n');
}

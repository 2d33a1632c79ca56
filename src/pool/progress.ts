// The optional progress bar of map, starmap and imap: one line on a TTY (stderr by default),
// redrawn at most every 100 ms and once at the end; nothing at all when the stream is not a TTY.
// It counts the items done, or reads a Counter that the tasks increment (finer-grained progress).

import { invalid, show } from '../errors.js';
import { checkOptions } from '../options.js';
import { Counter } from '../sync/counter.js';

export interface ProgressOptions {
  /** A Counter the tasks increment: the bar shows its value (against `total`). Default: items done. */
  counter?: Counter;
  /** The value that means done. Default: the number of items (for a counter: required to draw a bar). */
  total?: number;
  /** Text before the bar. */
  label?: string;
  /** Where to draw. Default process.stderr. Nothing is drawn unless it is a TTY. */
  stream?: NodeJS.WriteStream;
}

const redrawMs = 100;
const width = 30;

export class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #counter: Counter | undefined;
  readonly #label: string;
  #total: number | undefined;
  #done = 0;
  #timer: NodeJS.Timeout | undefined;
  #last = 0;
  #ended = false;

  private constructor(o: ProgressOptions, items: number | undefined) {
    this.#stream = o.stream ?? process.stderr;
    this.#counter = o.counter;
    this.#label = o.label ?? '';
    this.#total = o.total ?? (o.counter === undefined ? items : undefined);
    if (this.#counter !== undefined) {
      // The counter moves without telling us: look at it on a timer (which never keeps the process alive).
      this.#timer = setInterval(() => this.#draw(), redrawMs);
      this.#timer.unref();
    }
    this.#draw();
  }

  /** A bar for `progress` (true or ProgressOptions), or undefined when off or not on a TTY. */
  static start(progress: unknown, items: number | undefined, where: string): Progress | undefined {
    if (progress === undefined || progress === false) return undefined;
    const o: ProgressOptions = progress === true ? {} : checkProgress(progress, where);
    const stream = o.stream ?? process.stderr;
    if (!stream.isTTY) return undefined;
    return new Progress(o, items);
  }

  add(n: number): void {
    this.#done += n;
    if (performance.now() - this.#last >= redrawMs) this.#draw();
  }

  end(): void {
    if (this.#ended) return;
    this.#draw();
    this.#ended = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#stream.write('\n');
  }

  #draw(): void {
    if (this.#ended) return;
    this.#last = performance.now();
    let value = this.#done;
    if (this.#counter !== undefined) {
      try {
        value = this.#counter.value;
      } catch {
        return; // closed meanwhile
      }
    }
    const total = this.#total;
    let text: string;
    if (total !== undefined && total > 0) {
      const f = Math.max(0, Math.min(1, value / total));
      const full = Math.round(f * width);
      text = `${this.#label}[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${value}/${total} ${(f * 100).toFixed(0)}%`;
    } else {
      text = `${this.#label}${value}`;
    }
    this.#stream.write(`\r${text}\x1b[K`);
  }
}

function checkProgress(progress: unknown, where: string): ProgressOptions {
  if (typeof progress !== 'object' || progress === null) throw invalid(`${where}: progress must be true, false or { counter, total, label, stream }, got ${show(progress)}`);
  const o = checkOptions(progress as ProgressOptions, ['counter', 'total', 'label', 'stream'], `${where}: progress`);
  if (o.counter !== undefined && !(o.counter instanceof Counter)) throw invalid(`${where}: progress.counter must be a Counter`);
  if (o.total !== undefined && (typeof o.total !== 'number' || !Number.isSafeInteger(o.total) || o.total < 0)) throw invalid(`${where}: progress.total must be a non-negative integer, got ${show(o.total)}`);
  if (o.label !== undefined && typeof o.label !== 'string') throw invalid(`${where}: progress.label must be a string`);
  if (o.stream !== undefined && (typeof o.stream !== 'object' || o.stream === null || typeof (o.stream as { write?: unknown }).write !== 'function')) {
    throw invalid(`${where}: progress.stream must be a writable stream`);
  }
  return o;
}

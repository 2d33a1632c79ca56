// Progress of a load: a bar that redraws itself on a terminal, a plain line every 10% when piped.

import { bytes } from './format.js';

export interface Progress {
  update(done: number, total: number): void;
  finish(): void;
}

export function progressReporter(label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  const start = Date.now();
  let lastDraw = 0;
  let lastTenth = -1;
  let drawn = false;
  const rate = (done: number): string => {
    const s = (Date.now() - start) / 1000;
    return s > 0.05 ? `${bytes(done / s)}/s` : '';
  };
  return {
    update(done, total) {
      const fraction = total > 0 ? Math.min(1, done / total) : 1;
      if (stream.isTTY) {
        const now = Date.now();
        if (now - lastDraw < 100 && done < total) return;
        lastDraw = now;
        const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 60));
        const filled = Math.round(fraction * width);
        stream.write(`\r${label}  [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${bytes(done)} / ${bytes(total)}  ${rate(done)}\x1b[K`);
        drawn = true;
      } else {
        const tenth = Math.floor(fraction * 10);
        if (tenth === lastTenth) return;
        lastTenth = tenth;
        stream.write(`${label}: ${tenth * 10}% (${bytes(done)} of ${bytes(total)})\n`);
      }
    },
    finish() {
      if (drawn) stream.write('\n');
    },
  };
}

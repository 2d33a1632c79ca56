// The child side of a forked benchmark process: the parent's messages, in order, one at a time.

const inbox: unknown[] = [];
let waiting: ((m: unknown) => void) | undefined;
process.on('message', (m) => {
  if (waiting) {
    const w = waiting;
    waiting = undefined;
    w(m);
  } else inbox.push(m);
});

/** The parent's next message (queued if it came before it was asked for). */
export const next = (): Promise<unknown> => (inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise((r) => (waiting = r)));

/** Sends a message to the parent. */
export const send = (m: unknown): void => void process.send!(m as object);

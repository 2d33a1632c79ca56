// A TCP proxy on 127.0.0.1 between NATS clients and the server, to make the network misbehave on
// purpose: it can slow the server-to-client direction down (so that a fetch is still running when a
// test kills something), and it can drop the client's replies to JetStream flow-control requests
// (PUB $JS.FC....), which is exactly what makes nats.js's ObjectStore.get stall for good (nats.js#430).
// It counts the bytes it forwards, per direction.

import { type Server, type Socket, createServer, connect } from 'node:net';

export interface ProxyOptions {
  /** Server-to-client bytes per second (default: unlimited). */
  rate?: number;
  /** Drop every client publish to a $JS.FC. subject (the flow-control replies). */
  dropFlowControl?: boolean;
  /**
   * Once: forward the first client publish to a subject starting with this, drop everything the
   * server sends on that connection from then on (its answer is lost), and cut it 200 ms later.
   */
  loseAnswerTo?: string;
}

export class Proxy {
  readonly port: number;
  readonly upstream: number;
  /** Bytes forwarded server to client, and client to server; flow-control replies dropped. */
  readonly stats = { down: 0, up: 0, droppedFlowControl: 0 };
  options: ProxyOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(server: Server, port: number, upstream: number, options: ProxyOptions) {
    this.#server = server;
    this.port = port;
    this.upstream = upstream;
    this.options = options;
  }

  static async start(upstream: number, options: ProxyOptions = {}): Promise<Proxy> {
    let proxy: Proxy | undefined;
    const server = createServer((client) => proxy!.#pipe(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new Proxy(server, (server.address() as { port: number }).port, upstream, options);
    return proxy;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  #pipe(client: Socket): void {
    const up = connect(this.upstream, '127.0.0.1');
    this.#sockets.add(client);
    this.#sockets.add(up);
    const end = (): void => {
      client.destroy();
      up.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(up);
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);

    // client -> server: whole protocol operations, so that a flow-control reply can be left out
    let pending: Buffer = Buffer.alloc(0);
    let deaf = false; // the server's answers on this connection are lost (loseAnswerTo)
    client.on('data', (data: Buffer) => {
      this.stats.up += data.length;
      if (!this.options.dropFlowControl && this.options.loseAnswerTo === undefined && pending.length === 0) {
        up.write(data);
        return;
      }
      pending = pending.length === 0 ? data : Buffer.concat([pending, data]);
      const out: Buffer[] = [];
      for (;;) {
        const nl = pending.indexOf('\r\n');
        if (nl < 0) break;
        const line = pending.subarray(0, nl).toString('latin1');
        const pub = /^(H?PUB)\s+(\S+)(?:\s+\S+)?(?:\s+\d+)?\s+(\d+)$/i.exec(line);
        if (pub === null) {
          out.push(pending.subarray(0, nl + 2));
          pending = pending.subarray(nl + 2);
          continue;
        }
        const end = nl + 2 + Number(pub[3]) + 2;
        if (pending.length < end) break;
        if (this.options.dropFlowControl && pub[2]!.startsWith('$JS.FC.')) this.stats.droppedFlowControl++;
        else out.push(pending.subarray(0, end));
        const lose = this.options.loseAnswerTo;
        if (lose !== undefined && pub[2]!.startsWith(lose)) {
          this.options = { ...this.options, loseAnswerTo: undefined };
          deaf = true;
          setTimeout(() => this.cut(), 200);
        }
        pending = pending.subarray(end);
      }
      if (out.length > 0) up.write(Buffer.concat(out));
      if (pending.length > 0) pending = Buffer.from(pending); // do not pin the whole read buffer
    });

    // server -> client, at `rate` bytes per second at most (no credit saved up while idle)
    let free = 0; // when the link is free again, ms
    up.on('data', (data: Buffer) => {
      if (deaf) return;
      this.stats.down += data.length;
      client.write(data);
      const rate = this.options.rate;
      if (rate !== undefined) {
        const now = Date.now();
        free = Math.max(free, now) + (data.length / rate) * 1000;
        if (free - now > 5) {
          up.pause();
          setTimeout(() => up.resume(), free - now);
        }
      }
    });
  }

  /** Cuts every connection it carries (clients reconnect through it). */
  cut(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

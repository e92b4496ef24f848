// Picks loopback ports for benchmark agents. Gossip needs the same number free for TCP and UDP,
// so each candidate is proven free by binding both, then released for the agent. Candidates come
// from below Linux's ephemeral range (32768-60999 by default), so outgoing connections made
// meanwhile cannot take them; a port handed out once is never handed out again in this run.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

const LOW_PORT = 20_000;
const HIGH_PORT = 32_000;
const MAX_ATTEMPTS = 2_000;

export class PortPicker {
  readonly #host: string;
  readonly #given = new Set<number>();
  #next: number;

  constructor(host = '127.0.0.1') {
    this.#host = host;
    // A random start spreads concurrent runs (and other helpers' tests) apart.
    this.#next = LOW_PORT + Math.floor(Math.random() * (HIGH_PORT - LOW_PORT));
  }

  /** A port free on this host for both TCP and UDP. */
  async pick(): Promise<number> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const port = this.#next;
      this.#next = this.#next + 1 >= HIGH_PORT ? LOW_PORT : this.#next + 1;
      if (this.#given.has(port)) continue;
      if ((await tcpFree(this.#host, port)) && (await udpFree(this.#host, port))) {
        this.#given.add(port);
        return port;
      }
    }
    throw new Error(`no free TCP+UDP port on ${this.#host} in ${LOW_PORT}-${HIGH_PORT} after ${MAX_ATTEMPTS} attempts`);
  }

  async pickMany(count: number): Promise<number[]> {
    const out: number[] = [];
    for (let i = 0; i < count; i++) out.push(await this.pick());
    return out;
  }
}

function tcpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

function udpFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind({ address: host, port, exclusive: true }, () => socket.close(() => resolve(true)));
  });
}

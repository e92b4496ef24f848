// Real faults for test hosts (hosts.ts): partitions with nftables, loss with nftables (a random
// drop on the host's egress, which every kernel with nftables has), delay and reordering with tc
// netem (needs a kernel with sch_netem: netemSkipReason() says when it is missing), process signals (SIGKILL, SIGSTOP/SIGCONT, restart on the same data dir), and
// a tiny tmpfs for a data directory that fills up.
//
// Partitions drop on the RECEIVING host's input hook, by source address: a packet that is lost
// on the wire, as a real partition does. Dropping on the sender's output hook would instead hand
// the sender an immediate EPERM, an error no real network gives. One table per run inside each
// namespace holds the rules; each change rebuilds that table atomically in one `nft -f` batch.
import { execFile } from 'node:child_process';
import { mkdir, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Host, TestNetwork } from './hosts.ts';

const execFileAsync = promisify(execFile);

async function run(cmd: string, args: readonly string[], input?: string): Promise<void> {
  const promise = execFileAsync(cmd, args, { timeout: 30_000 });
  if (input !== undefined) {
    promise.child.stdin!.end(input);
  }
  try {
    await promise;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr?.trim() || err.message}`);
  }
}

export interface NetemOptions {
  /** Packets dropped, 0-100. */
  readonly lossPercent?: number;
  readonly delayMs?: number;
  /** Spread of the delay (uniform +-). */
  readonly jitterMs?: number;
  /** Packets sent at once (ahead of delayed ones), 0-100; needs delayMs. */
  readonly reorderPercent?: number;
}

export class Faults {
  readonly #net: TestNetwork;
  /** For each receiving host (by name), the source hosts whose packets it drops. */
  readonly #drops = new Map<string, Set<Host>>();
  readonly #netem = new Set<Host>();
  readonly #loss = new Set<Host>();

  constructor(net: TestNetwork) {
    this.#net = net;
  }

  /** Symmetric partition: no packet between any host of `a` and any host of `b`, either way. */
  async partition(a: readonly Host[], b: readonly Host[]): Promise<void> {
    await this.partitionOneWay(a, b);
    await this.partitionOneWay(b, a);
  }

  /** Asymmetric partition: packets from `from` to `to` are lost; `to` still reaches `from`. */
  async partitionOneWay(from: readonly Host[], to: readonly Host[]): Promise<void> {
    for (const receiver of to) {
      const sources = this.#drops.get(receiver.name) ?? new Set<Host>();
      for (const sender of from) if (sender !== receiver) sources.add(sender);
      this.#drops.set(receiver.name, sources);
      await this.#applyRules(receiver);
    }
  }

  /** Removes every partition rule. */
  async healPartitions(): Promise<void> {
    const receivers = [...this.#drops.keys()];
    this.#drops.clear();
    for (const name of receivers) await this.#applyRules(this.#host(name));
  }

  /**
   * Drops `percent` of the packets `host` sends, at random, silently (nftables' netdev egress
   * hook on its eth0: after the stack, as a lossy wire would; the sender sees no error).
   */
  async loss(host: Host, percent: number): Promise<void> {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new Error(`loss must be an integer percentage, not ${percent}`);
    const table = `${this.#net.nftTable}_loss`;
    const script = [`table netdev ${table} {}`, `delete table netdev ${table}`];
    if (percent > 0) {
      script.push(
        `table netdev ${table} {`,
        '  chain egress {',
        '    type filter hook egress device "eth0" priority 0; policy accept;',
        // numgen yields 0-99, and nft refuses the constant 100: total loss is a plain drop.
        percent === 100 ? '    drop' : `    numgen random mod 100 < ${percent} drop`,
        '  }',
        '}',
      );
    }
    await run('ip', ['netns', 'exec', host.ns, 'nft', '-f', '-'], `${script.join('\n')}\n`);
    if (percent > 0) this.#loss.add(host);
    else this.#loss.delete(host);
  }

  /** Delay, reordering (and loss) on everything `host` sends (tc netem on its eth0; see netemSkipReason). */
  async netem(host: Host, options: NetemOptions): Promise<void> {
    const args = ['qdisc', 'replace', 'dev', 'eth0', 'root', 'netem'];
    if (options.delayMs !== undefined) {
      args.push('delay', `${options.delayMs}ms`);
      if (options.jitterMs !== undefined) args.push(`${options.jitterMs}ms`);
    }
    if (options.reorderPercent !== undefined) {
      if (options.delayMs === undefined) throw new Error('netem reordering needs a delay (the reordered packets are the ones not delayed)');
      args.push('reorder', `${options.reorderPercent}%`);
    }
    if (options.lossPercent !== undefined) args.push('loss', `${options.lossPercent}%`);
    await this.#net.exec(host, 'tc', args);
    this.#netem.add(host);
  }

  /** Removes netem from `host`. */
  async clearNetem(host: Host): Promise<void> {
    if (!this.#netem.delete(host)) return;
    await this.#net.exec(host, 'tc', ['qdisc', 'del', 'dev', 'eth0', 'root']);
  }

  /** Removes every partition, loss rule and netem qdisc. */
  async healAll(): Promise<void> {
    await this.healPartitions();
    for (const h of [...this.#loss]) await this.loss(h, 0);
    for (const h of [...this.#netem]) await this.clearNetem(h);
  }

  /** SIGKILL: the process dies with nothing flushed. */
  async kill(host: Host): Promise<void> {
    await this.#net.kill(host);
  }

  /** SIGSTOP: the process freezes (a long GC pause or a VM stall); its sockets stay open. */
  pause(host: Host): void {
    this.#net.signal(host, 'SIGSTOP');
  }

  /** SIGCONT after pause(). */
  resume(host: Host): void {
    this.#net.signal(host, 'SIGCONT');
  }

  /** SIGKILL then start again on the same data dir, with the same flags. */
  async restart(host: Host, extra: readonly string[] = []): Promise<void> {
    await this.#net.kill(host);
    await this.#net.startAgent(host, extra);
  }

  #host(name: string): Host {
    const h = this.#net.hosts.find((x) => x.name === name);
    if (h === undefined) throw new Error(`no host ${name}`);
    return h;
  }

  async #applyRules(receiver: Host): Promise<void> {
    const table = this.#net.nftTable;
    const sources = [...(this.#drops.get(receiver.name) ?? [])].map((h) => h.ip);
    // Declaring the table first makes the delete valid whether or not it exists; the batch is atomic.
    const script = [`table inet ${table} {}`, `delete table inet ${table}`];
    if (sources.length > 0) {
      script.push(
        `table inet ${table} {`,
        '  chain input {',
        '    type filter hook input priority -10; policy accept;',
        `    ip saddr { ${sources.join(', ')} } drop`,
        '  }',
        '}',
      );
    }
    await run('ip', ['netns', 'exec', receiver.ns, 'nft', '-f', '-'], `${script.join('\n')}\n`);
  }
}

/** Why tc netem cannot be used here (a kernel built without sch_netem), or undefined when it can. */
export async function netemSkipReason(net: TestNetwork, host: Host): Promise<string | undefined> {
  try {
    await net.exec(host, 'tc', ['qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '0ms']);
    await net.exec(host, 'tc', ['qdisc', 'del', 'dev', 'lo', 'root']);
    return undefined;
  } catch (e) {
    return `tc netem is not available (${(e as Error).message.split('\n')[0]}); this kernel lacks sch_netem`;
  }
}

/** A tmpfs of `sizeBytes` mounted at `dir` (made if missing), for a data dir that fills up. */
export interface SmallDisk {
  readonly dir: string;
  /** Writes a filler file until the disk is full (ENOSPC); returns the bytes written. */
  fill(): Promise<number>;
  /** Removes the filler: space returns. */
  free(): Promise<void>;
  unmount(): Promise<void>;
}

export async function smallDisk(dir: string, sizeBytes: number): Promise<SmallDisk> {
  if (!Number.isInteger(sizeBytes) || sizeBytes < 64 * 1024) throw new Error(`tmpfs size must be at least 64 KiB, not ${sizeBytes}`);
  await mkdir(dir, { recursive: true });
  // Mounted in the root mount namespace before the agent starts: `ip netns exec` gives the agent
  // a copy of the mount table at its start, so it sees the tmpfs at the same path.
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'sappers-netns', dir]);
  const filler = join(dir, '.filler');
  return {
    dir,
    async fill() {
      const handle = await open(filler, 'a');
      const chunk = Buffer.alloc(64 * 1024, 0xab);
      let written = 0;
      try {
        // Big writes first, then smaller ones to take the last pages. Each loop is bounded by the
        // disk's size and ends at the first ENOSPC.
        for (const size of [chunk.length, 4096, 1]) {
          for (let i = 0; i <= Math.ceil(sizeBytes / size); i++) {
            try {
              written += (await handle.write(chunk, 0, size)).bytesWritten;
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
              break;
            }
          }
        }
      } finally {
        await handle.close();
      }
      return written;
    },
    async free() {
      await rm(filler, { force: true });
    },
    async unmount() {
      await run('umount', ['-l', dir]);
    },
  };
}

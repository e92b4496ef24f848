// Counts gossip bytes on loopback with nftables counters. Every gossip packet leaves through
// the output hook of `lo` exactly once, so counting there (and not in input too) counts each
// packet once. A packet is gossip when its destination port is a gossip port (UDP probes and
// gossip, TCP push-pull requests) or, failing that, its source port is one (TCP replies to a
// dialer's ephemeral port). Each rule `return`s after counting, so no packet is counted twice.
// Bytes are IP packet lengths (headers included), the same yardstick for both systems.
import { execFileSync } from 'node:child_process';
import type { CleanupStack } from './cleanup.ts';

export interface GossipBytes {
  readonly udpBytes: number;
  readonly tcpBytes: number;
  readonly packets: number;
}

const RULES = ['udp dport', 'tcp dport', 'udp sport', 'tcp sport'] as const;

export class NftGossipCounter {
  readonly #table: string;
  readonly #retire: () => void;

  private constructor(table: string, retire: () => void) {
    this.#table = table;
    this.#retire = retire;
  }

  /** Why counting is impossible here, or undefined when nft works. */
  static unavailableReason(): string | undefined {
    if (process.getuid?.() !== 0) return 'not root: nftables counters need CAP_NET_ADMIN';
    try {
      execFileSync('nft', ['--version'], { stdio: 'pipe' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return code === 'ENOENT' ? 'nft is not installed (apt-get install nftables)' : `nft does not run: ${(e as Error).message}`;
    }
    return undefined;
  }

  /** Creates a table counting traffic of PORTS; the cleanup stack deletes it in any case. */
  static create(cleanup: CleanupStack, label: string, ports: readonly number[]): NftGossipCounter {
    if (ports.length === 0) throw new Error('no gossip ports to count');
    const table = `sappers_bench_${label}_${process.pid}`.replace(/[^a-zA-Z0-9_]/g, '_');
    const rules = RULES.map((r) => `    oifname "lo" ${r} @gossip_ports counter return comment "${r}"`).join('\n');
    const script = [
      `table inet ${table} {`,
      `  set gossip_ports { type inet_service; elements = { ${ports.join(', ')} } }`,
      '  chain out {',
      '    type filter hook output priority 0; policy accept;',
      rules,
      '  }',
      '}',
      '',
    ].join('\n');
    execFileSync('nft', ['-f', '-'], { input: script, stdio: ['pipe', 'pipe', 'pipe'] });
    const retire = cleanup.add(`nft table inet ${table}`, () => {
      execFileSync('nft', ['delete', 'table', 'inet', table], { stdio: 'pipe' });
    });
    return new NftGossipCounter(table, retire);
  }

  read(): GossipBytes {
    const out = execFileSync('nft', ['-j', 'list', 'table', 'inet', this.#table], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const doc = JSON.parse(out) as { nftables: Array<{ rule?: { comment?: string; expr?: Array<{ counter?: { packets: number; bytes: number } }> } }> };
    let udpBytes = 0;
    let tcpBytes = 0;
    let packets = 0;
    for (const item of doc.nftables) {
      const rule = item.rule;
      if (rule === undefined) continue;
      const counter = rule.expr?.find((e) => e.counter !== undefined)?.counter;
      if (counter === undefined) continue;
      packets += counter.packets;
      if (rule.comment?.startsWith('udp') === true) udpBytes += counter.bytes;
      else tcpBytes += counter.bytes;
    }
    return { udpBytes, tcpBytes, packets };
  }

  close(): void {
    this.#retire();
  }
}

// Raft wire throughput: one raft.messages batch holding a 64-entry append of 1 KiB entries (the
// shape of a busy leader's pipelined append), encoded and decoded with the checked helpers of
// src/wire/raft.ts. Also the bare codec, to show what the helpers' checks cost on top of msgpack.
// Prints only; CPU-bound and single-threaded, so numbers vary with the machine and its load.
//   node bench/raft-wire.bench.ts [--quick]
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Entry, Message, NodeId } from '../src/core/raft/types.ts';
import { createWireCodec } from '../src/wire/messages.ts';
import { decodeRaftBatch, encodeRaftBatch } from '../src/wire/raft.ts';
import type { BenchContext, BenchReport } from './run.ts';

const ENTRIES = 64;
const ENTRY_BYTES = 1024;

function appendBatch(): Message[] {
  const entries: Entry[] = Array.from({ length: ENTRIES }, (_, i) => ({
    term: 7,
    index: 1001 + i,
    type: 'normal',
    data: Uint8Array.from({ length: ENTRY_BYTES }, (_, j) => (i * 31 + j) & 0xff),
  }));
  return [{ type: 'append', from: 'node-1' as NodeId, to: 'node-2' as NodeId, term: 7, prevLogIndex: 1000, prevLogTerm: 7, entries, commit: 990 }];
}

/** Runs fn repeatedly for about durationMs; returns operations per second. */
function rate(durationMs: number, fn: () => void): { ops: number; seconds: number } {
  for (let i = 0; i < 200; i++) fn(); // warm-up: let the JIT settle
  let ops = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    for (let i = 0; i < 100; i++) fn();
    ops += 100;
    elapsed = performance.now() - start;
  }
  return { ops, seconds: elapsed / 1000 };
}

export async function runRaftWireBench(ctx: BenchContext): Promise<BenchReport> {
  const durationMs = ctx.quick ? 300 : 2000;
  const codec = createWireCodec();
  const messages = appendBatch();
  const encoded = encodeRaftBatch(codec, 'cluster-1', messages);
  if (!encoded.ok) throw new Error(encoded.error);
  const bytes = encoded.value;
  const bareBody = { cluster: 'cluster-1', messages } as never;
  const scenarios: Array<[string, () => void]> = [
    ['encodeRaftBatch', () => void encodeRaftBatch(codec, 'cluster-1', messages)],
    ['decodeRaftBatch', () => void decodeRaftBatch(codec, bytes)],
    ['encode + decode', () => void decodeRaftBatch(codec, (encodeRaftBatch(codec, 'cluster-1', messages) as { value: Uint8Array }).value)],
    ['bare codec encode + decode', () => void codec.decode((codec.encode({ type: 'raft.messages', body: bareBody }) as { value: Uint8Array }).value)],
  ];
  const rows = scenarios.map(([name, fn]) => {
    const r = rate(durationMs, fn);
    const perSecond = r.ops / r.seconds;
    return {
      scenario: name,
      'batches/s': Math.round(perSecond),
      'entries/s': Math.round(perSecond * ENTRIES),
      'MiB/s': Math.round(((perSecond * bytes.byteLength) / (1024 * 1024)) * 10) / 10,
      'µs/batch': Math.round((1e6 / perSecond) * 10) / 10,
    };
  });
  return {
    name: 'raft-wire',
    title: `Raft wire: one append of ${ENTRIES} x ${ENTRY_BYTES} B entries (${bytes.byteLength} B encoded)`,
    rows,
    notes: [`node ${process.version}; ${durationMs} ms per scenario, one thread`],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // Standalone (run.ts is not imported: importing it runs every registered benchmark).
  const report = await runRaftWireBench({ quick: process.argv.includes('--quick'), repoRoot: '' });
  process.stdout.write(`${report.title}\n`);
  for (const row of report.rows) process.stdout.write(`  ${Object.entries(row).map(([k, v]) => `${k}=${v}`).join('  ')}\n`);
  process.stdout.write(`  ${report.notes.join('\n  ')}\n`);
}

// One-line renderings of Raft messages and entries for traces and golden files. Stable output:
// golden tests compare it byte for byte.

import { unreachable } from '../result.ts';
import { formatConfig } from './quorum.ts';
import type { Entry, Message } from './types.ts';

export function formatEntry(e: Entry): string {
  if (e.type === 'config') return `${e.term}/${e.index} config ${formatConfig(e.config ?? { voters: [], learners: [] })}`;
  if (e.data.length === 0) return `${e.term}/${e.index} noop`;
  return `${e.term}/${e.index} ${formatData(e.data)}`;
}

/** Printable data as text, anything else as its length. */
export function formatData(data: Uint8Array): string {
  const printable = data.length <= 32 && data.every((b) => b >= 0x21 && b < 0x7f);
  return printable ? `"${new TextDecoder().decode(data)}"` : `<${data.length} bytes>`;
}

export function formatMessage(m: Message): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'vote':
      return `${head}${m.preVote ? ' pre' : ''}${m.transfer ? ' transfer' : ''} last=${m.lastLogTerm}/${m.lastLogIndex}`;
    case 'vote-response':
      return `${head}${m.preVote ? ' pre' : ''} ${m.granted ? 'granted' : 'rejected'}`;
    case 'append': {
      const entries = m.entries.length === 0 ? '' : ` [${m.entries.map(formatEntry).join(', ')}]`;
      return `${head} prev=${m.prevLogTerm}/${m.prevLogIndex} commit=${m.commit}${entries}`;
    }
    case 'append-response':
      return m.success ? `${head} ok index=${m.index}` : `${head} reject index=${m.index} hint=${m.hintTerm}/${m.hintIndex}`;
    case 'heartbeat':
      return `${head} commit=${m.commit}${m.readRound > 0 ? ` read=${m.readRound}` : ''}`;
    case 'heartbeat-response':
      return `${head}${m.readRound > 0 ? ` read=${m.readRound}` : ''}`;
    case 'snapshot':
      return `${head} snap=${m.snapshot.term}/${m.snapshot.index} ${formatConfig(m.snapshot.config)}`;
    case 'timeout-now':
      return head;
    case 'read-index':
      return `${head} req=${m.requestId}`;
    case 'read-index-response':
      return `${head} req=${m.requestId} index=${m.index}`;
    default:
      return unreachable(m);
  }
}

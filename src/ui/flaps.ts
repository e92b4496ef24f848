// Flapping nodes: members whose gossip status keeps changing (alive -> suspect/dead -> alive...).
// The API keeps no history of gossip status (no event is recorded for it; GET /v1/members
// gives each member's status and `statusSince`, the time of its last change). So the dashboard
// counts the changes it sees itself, from the members list the agent streams to the shell on
// every change (debounced 250 ms: live-views.ts), since the tab was opened. A status that is the
// same as before but with a newer statusSince changed twice in between (away and back, within
// one debounce or while the stream was reconnecting), which one look would otherwise miss.
import type { Member, MemberStatus } from './types.ts';

/** Changes within FLAP_WINDOW_MS that make a node "flapping": two round trips. */
export const FLAP_CHANGES = 4;
export const FLAP_WINDOW_MS = 10 * 60_000;
/** Bounds: changes remembered per node, nodes remembered. */
const MAX_CHANGES_PER_NODE = 32;
const MAX_NODES = 1000;

interface Seen {
  status: MemberStatus;
  statusSince: string;
  changesAtMs: number[];
}

export interface Flapping {
  readonly id: string;
  readonly changes: number;
  readonly status: MemberStatus;
}

export class FlapTracker {
  readonly #nodes = new Map<string, Seen>();
  #sinceMs: number | undefined;
  readonly #listeners = new Set<() => void>();

  /** Takes one look at the members list, at `nowMs`. */
  observe(members: readonly Member[], nowMs: number): void {
    this.#sinceMs ??= nowMs;
    let changed = false;
    for (const m of members) {
      const seen = this.#nodes.get(m.id);
      if (seen === undefined) {
        if (this.#nodes.size >= MAX_NODES) continue;
        this.#nodes.set(m.id, { status: m.status, statusSince: m.statusSince, changesAtMs: [] });
        continue;
      }
      const count = seen.status !== m.status ? 1 : seen.statusSince !== m.statusSince && m.status !== 'left' ? 2 : 0;
      for (let i = 0; i < count; i++) seen.changesAtMs.push(nowMs);
      if (seen.changesAtMs.length > MAX_CHANGES_PER_NODE) seen.changesAtMs.splice(0, seen.changesAtMs.length - MAX_CHANGES_PER_NODE);
      seen.status = m.status;
      seen.statusSince = m.statusSince;
      if (count > 0) changed = true;
    }
    if (changed) for (const fn of this.#listeners) fn();
  }

  /** Nodes with at least FLAP_CHANGES status changes seen in the last FLAP_WINDOW_MS. */
  flapping(nowMs: number): Flapping[] {
    const out: Flapping[] = [];
    for (const [id, seen] of this.#nodes) {
      const changes = seen.changesAtMs.filter((t) => nowMs - t <= FLAP_WINDOW_MS).length;
      if (changes >= FLAP_CHANGES) out.push({ id, changes, status: seen.status });
    }
    return out.sort((a, b) => b.changes - a.changes || a.id.localeCompare(b.id));
  }

  /** Since when this dashboard has been watching (undefined before the first look). */
  get watchingSinceMs(): number | undefined {
    return this.#sinceMs;
  }

  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}

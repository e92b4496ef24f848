// The queue of updates waiting to be piggybacked (SWIM 4.1: infection-style dissemination).
// Each update is sent a bounded number of times, least-sent first, and a newer update about a
// node replaces an older one, so the queue never holds more than one entry per member.
import type { NodeId, Update } from './types.ts';

interface Entry<Meta> {
  readonly update: Update<Meta>;
  transmits: number;
  /** Insertion order, to break ties deterministically (newest first). */
  readonly order: number;
}

export class BroadcastQueue<Meta> {
  readonly #byNode = new Map<NodeId, Entry<Meta>>();
  #order = 0;

  get size(): number {
    return this.#byNode.size;
  }

  /** Queues an update, replacing any pending one about the same node. */
  push(update: Update<Meta>, priority = false): void {
    // A prioritised update (a refutation or a buddy-system suspicion) goes out before others.
    this.#byNode.set(update.id, { update, transmits: priority ? -1 : 0, order: this.#order++ });
  }

  /** Drops a pending update about a node (for example once the node is reaped). */
  forget(id: NodeId): void {
    this.#byNode.delete(id);
  }

  /**
   * Takes updates for one packet: least-transmitted first, as many as fit in budgetBytes by
   * sizeOf. Each taken update counts one transmission; those past the limit are dropped.
   */
  take(budgetBytes: number, limit: number, sizeOf: (u: Update<Meta>) => number): Update<Meta>[] {
    const entries = [...this.#byNode.values()].sort((a, b) => a.transmits - b.transmits || b.order - a.order);
    const out: Update<Meta>[] = [];
    let used = 0;
    for (const entry of entries) {
      const size = sizeOf(entry.update);
      if (used + size > budgetBytes) continue;
      used += size;
      out.push(entry.update);
      entry.transmits = Math.max(0, entry.transmits) + 1;
      if (entry.transmits >= limit) this.#byNode.delete(entry.update.id);
    }
    return out;
  }

  pending(): Update<Meta>[] {
    return [...this.#byNode.values()].map((e) => e.update);
  }
}

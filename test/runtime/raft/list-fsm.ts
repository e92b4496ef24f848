// The state machine of the Raft runtime tests: the list of commands applied, in order.
import type { StateMachine } from '../../../src/runtime/raft/node.ts';

export class ListFsm implements StateMachine {
  items: string[] = [];
  apply(entry: { data: Uint8Array }): unknown {
    this.items.push(new TextDecoder().decode(entry.data));
    return this.items.length;
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.items));
  }
  restore(data: Uint8Array): void {
    this.items = JSON.parse(new TextDecoder().decode(data)) as string[];
  }
}

// Determinism with async code. Node code awaits promises (disk writes, RPC replies); their
// continuations run as microtasks, outside the virtual clock's event queue. After every event
// the simulator waits for one macrotask turn (setImmediate): Node drains the whole microtask
// queue (including microtasks queued by microtasks) before it runs the next macrotask, so when
// settle() resolves, every continuation the event made runnable has run, in an order fixed by
// the program alone. Simulated parts do no real I/O, so nothing else can interleave.

import type { VirtualClock } from './clock.ts';

/** Resolves after every pending microtask (and microtasks they queue) has run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs the clock's events up to targetMs one at a time, settling microtasks after each, then
 * moves time to targetMs. For tests and tools that do not need a full Simulation.
 */
export async function runSettled(clock: VirtualClock, targetMs: number): Promise<number> {
  await settle();
  let ran = 0;
  for (;;) {
    const next = clock.nextEventAtMs();
    if (next === undefined || next > targetMs) break;
    clock.step();
    ran++;
    await settle();
  }
  clock.runUntil(targetMs);
  return ran;
}

// Virtual time for the deterministic simulator (DESIGN.md, How we test, item 3). Time moves
// only when the simulator runs the next event, so a run takes as long as its computation, not
// as long as its timeouts, and every run of one seed sees the same times.
//
// VirtualClock is the simulation's global time. DriftingClock is one node's view of it: its
// clock may run at rate 1 +/- epsilon (real oscillators drift by tens of ppm; the simulator
// exaggerates it so that timeout logic which assumes equal rates is caught). A DriftingClock
// belongs to one incarnation of a node: kill() cancels all of its timers, because a crashed
// process has no timers left.

import { assert } from '../core/result.ts';
import type { Clock, Timer } from '../runtime/clock.ts';
import { EventQueue } from './event-queue.ts';

export interface VirtualClockOptions {
  /** Initial monotonic time (default 0). */
  readonly startMs?: number;
  /** Wall-clock time at monotonic 0 (default 2026-01-01T00:00:00Z), so wallMs() looks real. */
  readonly wallOriginMs?: number;
}

export const DEFAULT_WALL_ORIGIN_MS = Date.UTC(2026, 0, 1);

export class VirtualClock implements Clock {
  readonly #queue = new EventQueue();
  readonly #wallOriginMs: number;
  #nowMs: number;

  constructor(options: VirtualClockOptions = {}) {
    this.#nowMs = options.startMs ?? 0;
    this.#wallOriginMs = options.wallOriginMs ?? DEFAULT_WALL_ORIGIN_MS;
    assert(Number.isFinite(this.#nowMs), 'startMs is finite');
  }

  nowMs(): number {
    return this.#nowMs;
  }

  wallMs(): number {
    return this.#wallOriginMs + this.#nowMs;
  }

  /** Like the system clock, a negative delay means "as soon as possible" (after queued events). */
  setTimer(delayMs: number, fn: () => void): Timer {
    assert(Number.isFinite(delayMs), `timer delay must be finite, got ${delayMs}`);
    return this.#queue.schedule(this.#nowMs + Math.max(0, delayMs), fn);
  }

  /** Schedules fn at an absolute time, which must not be in the past. */
  scheduleAt(atMs: number, fn: () => void): Timer {
    assert(atMs >= this.#nowMs, `cannot schedule in the past (${atMs} < ${this.#nowMs})`);
    return this.#queue.schedule(atMs, fn);
  }

  /** Number of timers waiting to fire. */
  pendingCount(): number {
    return this.#queue.size;
  }

  /** Due time of the next timer, or undefined when none is waiting. */
  nextEventAtMs(): number | undefined {
    return this.#queue.peekTimeMs();
  }

  /**
   * Runs the earliest timer, moving time forward to its due time. Returns false (and leaves
   * time alone) when nothing is scheduled. Callbacks run synchronously; a simulator that drives
   * async code must let microtasks settle after each step (see Simulation.step).
   */
  step(): boolean {
    const event = this.#queue.pop();
    if (event === undefined) return false;
    this.#nowMs = event.atMs;
    event.fn();
    return true;
  }

  /**
   * Runs every timer due at or before targetMs (including ones scheduled by those callbacks),
   * then sets time to targetMs. Returns the number of timers run.
   */
  runUntil(targetMs: number): number {
    assert(targetMs >= this.#nowMs, `runUntil(${targetMs}) is in the past (now ${this.#nowMs})`);
    let ran = 0;
    for (;;) {
      const next = this.#queue.peekTimeMs();
      if (next === undefined || next > targetMs) break;
      this.step();
      ran++;
    }
    this.#nowMs = targetMs;
    return ran;
  }

  /** runUntil(now + ms). */
  advance(ms: number): number {
    assert(ms >= 0, `advance(${ms}) needs a non-negative duration`);
    return this.runUntil(this.#nowMs + ms);
  }
}

export interface DriftingClockOptions {
  /** Local seconds per global second: 1 is a perfect clock, 1.001 runs 0.1% fast. */
  readonly rate: number;
  /** Local monotonic time when global time is 0 (processes do not share a time origin). */
  readonly localOriginMs?: number;
  /** Local wall-clock time at local monotonic 0. */
  readonly wallOriginMs?: number;
}

/** One incarnation of one node's clock over the global VirtualClock. */
export class DriftingClock implements Clock {
  readonly #global: VirtualClock;
  readonly #rate: number;
  readonly #localOriginMs: number;
  readonly #wallOriginMs: number;
  readonly #timers = new Set<Timer>();
  #dead = false;

  constructor(global: VirtualClock, options: DriftingClockOptions) {
    assert(Number.isFinite(options.rate) && options.rate > 0, `clock rate must be positive, got ${options.rate}`);
    this.#global = global;
    this.#rate = options.rate;
    this.#localOriginMs = options.localOriginMs ?? 0;
    this.#wallOriginMs = options.wallOriginMs ?? DEFAULT_WALL_ORIGIN_MS;
  }

  get rate(): number {
    return this.#rate;
  }

  nowMs(): number {
    return this.#localOriginMs + this.#global.nowMs() * this.#rate;
  }

  wallMs(): number {
    return this.#wallOriginMs + this.nowMs();
  }

  /** delayMs is in local time; it takes delayMs / rate of global time. */
  setTimer(delayMs: number, fn: () => void): Timer {
    assert(Number.isFinite(delayMs), `timer delay must be finite, got ${delayMs}`);
    if (this.#dead) return DEAD_TIMER;
    const inner = this.#global.setTimer(Math.max(0, delayMs) / this.#rate, () => {
      this.#timers.delete(timer);
      fn();
    });
    const timer: Timer = {
      cancel: () => {
        this.#timers.delete(timer);
        inner.cancel();
      },
    };
    this.#timers.add(timer);
    return timer;
  }

  /** Timers of this incarnation still waiting. */
  pendingCount(): number {
    return this.#timers.size;
  }

  /** The process died: cancel every timer; later setTimer calls do nothing. */
  kill(): void {
    this.#dead = true;
    for (const timer of [...this.#timers]) timer.cancel();
    this.#timers.clear();
  }
}

const DEAD_TIMER: Timer = { cancel: () => {} };

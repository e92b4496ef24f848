// Time enters the program only through a Clock (DESIGN.md, Architecture). The runtime uses the
// system clock; the simulator passes a virtual one (src/sim/clock.ts) with the same interface.

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds since an arbitrary origin: use for timeouts and durations. */
  nowMs(): number;
  /** Wall-clock milliseconds since the Unix epoch: use only for display and TTL deadlines. */
  wallMs(): number;
  /** Runs fn once after delayMs. The returned timer may be cancelled; cancel is idempotent. */
  setTimer(delayMs: number, fn: () => void): Timer;
}

export class SystemClock implements Clock {
  nowMs(): number {
    return performance.now();
  }

  wallMs(): number {
    return Date.now();
  }

  setTimer(delayMs: number, fn: () => void): Timer {
    const handle = setTimeout(fn, Math.max(0, delayMs));
    // A pending timer must never keep a closing process alive; shutdown is explicit.
    handle.unref();
    return { cancel: () => clearTimeout(handle) };
  }
}

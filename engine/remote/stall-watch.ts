// The client's deadline of no progress for the streaming phases (data transfer, waiting for the
// daemon's DONE). Unary calls have a gRPC deadline instead; a stream has none that fits, since a
// large transfer may rightly last hours: what must not last is a stretch in which nothing moves.

/** Calls `onStall` once when touch() was not called for `seconds` (0: never). */
export class StallWatch {
  private last = performance.now();
  private timer: ReturnType<typeof setInterval> | undefined;
  private held = false;
  private fired = false;
  private lastCheck = performance.now();
  private readonly everyMs: number;

  constructor(private readonly seconds: number, private readonly onStall: () => void) {
    this.everyMs = Math.min(1000, seconds * 250);
    if (seconds > 0) this.timer = setInterval(() => this.check(), this.everyMs);
  }

  /** Something moved (bytes arrived, a write went out). */
  touch(): void {
    this.last = performance.now();
  }

  /** While held, the wait is ours (our writers are behind, the data is paused): it never counts. */
  hold(on: boolean): void {
    this.held = on;
    this.touch();
  }

  /** True once the watch fired. */
  get stalled(): boolean {
    return this.fired;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private check(): void {
    const now = performance.now();
    // A tick that comes late means this process was busy (hashing, writing): that time is ours.
    const late = now - this.lastCheck > this.everyMs * 2 + 500;
    this.lastCheck = now;
    if (this.held || late) return this.touch();
    if (performance.now() - this.last < this.seconds * 1000) return;
    this.fired = true;
    this.stop();
    this.onStall();
  }
}

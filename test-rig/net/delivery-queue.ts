/**
 * The delivery queue of an impaired path: items (datagrams with their destination) held until
 * their due time, then handed to `deliver` in due order; items due at the same time leave in
 * the order they were pushed (FIFO), so a fixed delay never reorders.
 *
 * One binary min-heap on (due, push order) and one timer armed for the earliest item, rather
 * than one setTimeout per datagram: at 3000 datagrams/s per-packet timers cost a timer object
 * each and fire in timer-list order, not due order, when jitter varies the delays. The timer
 * is armed a little early (ARM_EARLY_MS) and, when it fires, everything due within
 * EARLY_TOLERANCE_MS is delivered; what is due later re-arms. Node's timers run on a 1 ms loop
 * clock, so that is the accuracy aimed at; `stats` measures what was achieved (lateness of
 * each delivery against its due time, on the injected clock).
 *
 * Time is injected (`now`, `setTimer`, `clearTimer`); the defaults are performance.now and
 * Node's timers. `pump(now)` delivers by hand (tests drive it without timers).
 * Lifecycle: `push` arms the timer (or delivers at once what is already due); `close()` drops what is queued and disarms (idempotent).
 */

/** Early delivery accepted when a timer fires, ms: below Node's 1 ms timer granularity. */
export const EARLY_TOLERANCE_MS = 0.5;
/** How much sooner than the earliest due time the timer is asked for, ms. */
export const ARM_EARLY_MS = 1;

export interface DeliveryClock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const NODE_CLOCK: DeliveryClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface DeliveryStats {
  queued: number;
  delivered: number;
  /** Mean of (delivery time - due time), ms; negative means early. */
  lateMeanMs: number;
  lateMaxMs: number;
  /** Largest early delivery, ms (>= 0). */
  earlyMaxMs: number;
  /** Deliveries more than 1 ms after their due time. */
  lateOver1Ms: number;
  /** Median and 99th percentile of the lateness, ms, to HIST_STEP_MS (beyond HIST_MAX_MS: HIST_MAX_MS). */
  lateP50Ms: number;
  lateP99Ms: number;
}

/** The lateness histogram: HIST_STEP_MS buckets from -EARLY_TOLERANCE_MS to HIST_MAX_MS. */
export const HIST_STEP_MS = 0.05;
export const HIST_MAX_MS = 50;
const HIST_BUCKETS = Math.ceil((HIST_MAX_MS + EARLY_TOLERANCE_MS) / HIST_STEP_MS) + 1;

interface Entry<T> { due: number; order: number; item: T }

export class DeliveryQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private order = 0;
  private timer: unknown = null;
  private timerDue = Infinity;
  private closed = false;
  private delivered = 0;
  private lateSum = 0;
  private lateMax = -Infinity;
  private earlyMax = 0;
  private over1 = 0;
  private readonly hist = new Uint32Array(HIST_BUCKETS);

  constructor(private readonly deliver: (item: T, lateMs: number) => void, private readonly clock: DeliveryClock = NODE_CLOCK) {}

  /**
   * Holds `item` until `dueMs` (on the queue's clock). An item already due is delivered at once
   * (no timer round, which would cost ~1 ms), after any earlier-due item still queued, so a
   * zero delay adds nothing and never reorders. After close() the item is dropped.
   */
  push(dueMs: number, item: T): void {
    if (this.closed) return;
    const h = this.heap;
    const e: Entry<T> = { due: dueMs, order: this.order++, item };
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
    const now = this.clock.now();
    if (dueMs <= now) {
      this.pump(now);
      this.arm(this.clock.now());
    } else if (dueMs < this.timerDue) this.arm(now);
  }

  get size(): number { return this.heap.length; }

  /** Delivers every item due by `nowMs` (+ `toleranceMs`); returns how many. */
  pump(nowMs: number, toleranceMs = 0): number {
    let n = 0;
    const limit = nowMs + toleranceMs;
    let t = nowMs;
    while (this.heap.length && this.heap[0]!.due <= limit && !this.closed) {
      const e = this.pop();
      const late = t - e.due;
      this.delivered++;
      this.lateSum += late;
      if (late > this.lateMax) this.lateMax = late;
      if (-late > this.earlyMax) this.earlyMax = -late;
      if (late > 1) this.over1++;
      this.hist[Math.max(0, Math.min(HIST_BUCKETS - 1, Math.floor((late + EARLY_TOLERANCE_MS) / HIST_STEP_MS)))]!++;
      n++;
      this.deliver(e.item, late);
      // A deliver that takes long makes later items late: re-read the clock now and then
      // (for the lateness only; what is due was decided by `nowMs`).
      if ((n & 63) === 0) t = Math.max(t, this.clock.now());
    }
    return n;
  }

  get stats(): DeliveryStats {
    return {
      queued: this.heap.length, delivered: this.delivered,
      lateMeanMs: this.delivered ? this.lateSum / this.delivered : 0,
      lateMaxMs: this.delivered ? this.lateMax : 0, earlyMaxMs: this.earlyMax, lateOver1Ms: this.over1,
      lateP50Ms: this.quantile(0.5), lateP99Ms: this.quantile(0.99),
    };
  }

  /** The upper edge of the histogram bucket holding quantile q (0 before any delivery). */
  private quantile(q: number): number {
    if (!this.delivered) return 0;
    const want = Math.ceil(q * this.delivered);
    let acc = 0;
    for (let i = 0; i < HIST_BUCKETS; i++) {
      acc += this.hist[i]!;
      if (acc >= want) return Math.min(HIST_MAX_MS, (i + 1) * HIST_STEP_MS - EARLY_TOLERANCE_MS);
    }
    return HIST_MAX_MS;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.heap.length = 0;
  }

  private arm(nowMs: number): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.timerDue = Infinity;
    if (this.closed || !this.heap.length) return;
    const due = this.heap[0]!.due;
    this.timerDue = due;
    // Within ARM_EARLY_MS of due (a timer that fired early), ask for the rest itself: never 0,
    // which a clock honouring 0 exactly would spin on (what is left is > EARLY_TOLERANCE_MS).
    const left = due - nowMs;
    this.timer = this.clock.setTimer(() => this.fire(), left > ARM_EARLY_MS ? left - ARM_EARLY_MS : Math.max(0, left));
  }

  private fire(): void {
    this.timer = null;
    this.timerDue = Infinity;
    this.pump(this.clock.now(), EARLY_TOLERANCE_MS);
    this.arm(this.clock.now());
  }

  private pop(): Entry<T> {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

function before<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.due < b.due || (a.due === b.due && a.order < b.order);
}

/**
 * A seeded network impairment model: for each datagram offered to a path it decides whether
 * the datagram is lost, whether it is duplicated, and how long each copy is held. Pure: time
 * (`nowMs` of each decision) and randomness (a seed, or an injected `random`) come from the
 * caller, so a test replays the exact same fate sequence from the same seed. The UDP link
 * (`lossy-link.ts`) and the RTSP proxy (`../rtp/lossy-rtsp-proxy.ts`) take their decisions here.
 *
 * One decision, in this order (each step draws from its own PRNG stream, derived from the
 * seed, so the loss pattern of a seed does not change when jitter or duplication is switched on):
 *
 *   datagram --> loss? --(lost)--> copies 0
 *                  |
 *                  +--> departure = now + delayMs + jitter        (jitter bounded by jitterMs)
 *                  |      jitterReorders false: departure >= the previous datagram's departure
 *                  +--> reorder? departure += reorderDelayMs       (later datagrams overtake it)
 *                  +--> duplicate? a second copy, its own jitter, never before the first
 *
 * Loss models:
 * - Bernoulli: each datagram lost with probability `loss`, independently (`burst` null).
 * - Gilbert (simple): a two-state Markov chain, loss only in the bad state, given as the mean
 *   loss `loss` = p/(p+r) and the mean burst length `burst` = 1/r (p: good->bad, r: bad->good,
 *   per datagram). `set({ loss })` keeps the burst length; `set({ burst: null })` is Bernoulli.
 * - Gilbert-Elliott: the general chain with a loss probability in each state
 *   (`gilbertElliott`); it takes precedence over `loss`/`burst` while it is set.
 * Each decision first draws the loss in the current state, then the state's transition.
 *
 * Reordering as counted in `stats.reordered` is RFC 4737's: a datagram is reordered when it
 * leaves after a datagram offered later than it (it is overtaken, so a receiver sees it
 * below the highest sequence number it already has). Copies due at the same instant leave in
 * the order they were offered (the delivery queue is FIFO for equal times), so they do not
 * count. A duplicate's second copy is not counted.
 *
 * Errors: a setting out of range throws ImpairmentSettingError naming the setting and value.
 */
import { mulberry32 } from '../../edge/demo/prng.js';

/** The general two-state Gilbert-Elliott chain; probabilities per datagram, 0..1. */
export interface GilbertElliott {
  /** Good -> bad transition probability. */
  pGoodToBad: number;
  /** Bad -> good transition probability (1 / mean stay in the bad state). */
  pBadToGood: number;
  /** Loss probability while good (0 for the simple Gilbert model). */
  lossGood: number;
  /** Loss probability while bad (1 for the simple Gilbert model). */
  lossBad: number;
}

export interface ImpairmentSettings {
  /** Mean share of datagrams lost, 0..1. Default 0. */
  loss: number;
  /** Mean loss-burst length in datagrams (>= 1) for the simple Gilbert model; null: Bernoulli. Default null. */
  burst: number | null;
  /** A general Gilbert-Elliott chain; when set, `loss` and `burst` are not used. Default null. */
  gilbertElliott: GilbertElliott | null;
  /** Fixed one-way delay (ms). Default 0. */
  delayMs: number;
  /** Jitter bound (ms): the delay varies within delayMs +- jitterMs (never below 0). Default 0. */
  jitterMs: number;
  /** 'uniform' over the bound, or 'normal' (sigma jitterMs/2, truncated at the bound). Default 'uniform'. */
  jitterShape: 'uniform' | 'normal';
  /** Whether jitter may reorder datagrams; false holds a datagram until the one before it has left. Default false. */
  jitterReorders: boolean;
  /** Probability a datagram is held back an extra reorderDelayMs, 0..1. Default 0. */
  reorder: number;
  /** The extra hold of a reordered datagram (ms). Default 5. */
  reorderDelayMs: number;
  /** Probability a datagram is delivered twice, 0..1. Default 0. */
  duplicate: number;
}

export const DEFAULT_IMPAIRMENT: Readonly<ImpairmentSettings> = Object.freeze({
  loss: 0, burst: null, gilbertElliott: null, delayMs: 0, jitterMs: 0, jitterShape: 'uniform',
  jitterReorders: false, reorder: 0, reorderDelayMs: 5, duplicate: 0,
});

export interface ImpairmentStats {
  /** Datagrams offered. */
  seen: number;
  dropped: number;
  /** Datagrams given a second copy. */
  duplicated: number;
  /** Datagrams overtaken by a later one (RFC 4737), counted when the overtaking one is decided. */
  reordered: number;
  /** Copies handed out: seen - dropped + duplicated. */
  delivered: number;
  /** Runs of consecutive dropped datagrams. */
  bursts: number;
  /** dropped / bursts (0 before any loss). */
  meanBurst: number;
}

/** The fate of one datagram; the object is reused, valid until the next decision. */
export interface Fate {
  /** 0 (lost), 1, or 2 (duplicated). */
  copies: 0 | 1 | 2;
  /** Hold of each copy from the decision (ms, >= 0); entries past `copies` are stale. */
  delayMs: [number, number];
}

export class ImpairmentSettingError extends RangeError {
  constructor(readonly setting: string, readonly value: unknown, why: string) {
    super(`impairment setting ${setting}: ${String(value)} ${why}`);
    this.name = 'ImpairmentSettingError';
  }
}

/**
 * The simple Gilbert chain (loss only in the bad state) of mean loss `loss` and mean burst
 * length `burst` datagrams: r = 1/burst, p = loss*r/(1-loss).
 */
export function gilbertFromLossAndBurst(loss: number, burst: number): GilbertElliott {
  if (!(loss >= 0 && loss < 1)) throw new ImpairmentSettingError('loss', loss, 'is not within 0..1 (1 excluded with a burst length)');
  if (!(burst >= 1)) throw new ImpairmentSettingError('burst', burst, 'is not a mean burst length >= 1');
  const r = 1 / burst;
  const p = (loss * r) / (1 - loss);
  if (p > 1) throw new ImpairmentSettingError('burst', burst, `is too short for mean loss ${loss} (needs >= ${(loss / (1 - loss)).toFixed(3)})`);
  return { pGoodToBad: p, pBadToGood: r, lossGood: 0, lossBad: 1 };
}

/** The stationary mean loss of a Gilbert-Elliott chain. */
export function gilbertElliottMeanLoss(g: GilbertElliott): number {
  const s = g.pGoodToBad + g.pBadToGood;
  const bad = s === 0 ? 0 : g.pGoodToBad / s;
  return (1 - bad) * g.lossGood + bad * g.lossBad;
}

function unit(name: string, v: unknown): void {
  if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new ImpairmentSettingError(name, v, 'is not within 0..1');
}
function nonNegative(name: string, v: unknown): void {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new ImpairmentSettingError(name, v, 'is not a finite number >= 0');
}

function validate(s: ImpairmentSettings): GilbertElliott | null {
  unit('loss', s.loss);
  unit('reorder', s.reorder);
  unit('duplicate', s.duplicate);
  nonNegative('delayMs', s.delayMs);
  nonNegative('jitterMs', s.jitterMs);
  nonNegative('reorderDelayMs', s.reorderDelayMs);
  if (s.jitterShape !== 'uniform' && s.jitterShape !== 'normal') throw new ImpairmentSettingError('jitterShape', s.jitterShape, "is not 'uniform' or 'normal'");
  if (typeof s.jitterReorders !== 'boolean') throw new ImpairmentSettingError('jitterReorders', s.jitterReorders, 'is not a boolean');
  if (s.gilbertElliott) {
    const g = s.gilbertElliott;
    for (const k of ['pGoodToBad', 'pBadToGood', 'lossGood', 'lossBad'] as const) unit(`gilbertElliott.${k}`, g[k]);
    return { ...g };
  }
  if (s.burst !== null) return gilbertFromLossAndBurst(s.loss, s.burst);
  return null;
}

/** Decorrelated PRNG streams from one seed (golden-ratio offsets, as splitmix does). */
function stream(seed: number, k: number): () => number {
  return mulberry32((seed + Math.imul(k, 0x9e3779b9)) >>> 0);
}

export interface ImpairmentOptions {
  /** PRNG seed. Default 1. */
  seed?: number;
  /** A random source in [0, 1) used for every draw instead of the seeded streams. */
  random?: () => number;
}

export class Impairment {
  private s: ImpairmentSettings;
  private chain: GilbertElliott | null;
  private bad = false;
  private lastLost = false;
  /** Departure of the last datagram that was not held back: the floor when jitter may not reorder. */
  private lastDeparture = -Infinity;
  /**
   * Departures of datagrams not yet overtaken and not yet gone, oldest first. A new departure
   * d overtakes (and removes) every entry above d, then goes at the end, so the list stays
   * sorted: a monotonic queue, O(1) amortised per decision.
   */
  private readonly pending: number[] = [];
  private pendingHead = 0;
  private readonly rLoss: () => number;
  private readonly rJitter: () => number;
  private readonly rReorder: () => number;
  private readonly rDup: () => number;
  private readonly fate: Fate = { copies: 0, delayMs: [0, 0] };
  private readonly st = { seen: 0, dropped: 0, duplicated: 0, reordered: 0, delivered: 0, bursts: 0 };

  constructor(settings: Partial<ImpairmentSettings> = {}, opts: ImpairmentOptions = {}) {
    this.s = { ...DEFAULT_IMPAIRMENT, ...settings };
    this.chain = validate(this.s);
    const seed = opts.seed ?? 1;
    this.rLoss = opts.random ?? stream(seed, 0);
    this.rJitter = opts.random ?? stream(seed, 1);
    this.rReorder = opts.random ?? stream(seed, 2);
    this.rDup = opts.random ?? stream(seed, 3);
  }

  /** The settings in force (a copy). */
  get settings(): ImpairmentSettings { return { ...this.s, gilbertElliott: this.s.gilbertElliott && { ...this.s.gilbertElliott } }; }

  /**
   * Changes settings at run time (a loss step, a delay change); the rest are kept. A rejected
   * change throws and leaves the model as it was. The Gilbert state carries over.
   */
  set(change: Partial<ImpairmentSettings>): void {
    const next = { ...this.s, ...change };
    const chain = validate(next);
    this.s = next;
    this.chain = chain;
    if (!chain) this.bad = false;
  }

  get stats(): ImpairmentStats {
    const s = this.st;
    return { ...s, meanBurst: s.bursts ? s.dropped / s.bursts : 0 };
  }

  /** Whether the Gilbert chain is in its bad state (false for Bernoulli). */
  get inBadState(): boolean { return this.bad; }

  /**
   * Decides the fate of one datagram offered at `nowMs` (monotonic ms, non-decreasing across
   * calls). Returns a reused object.
   */
  decide(nowMs: number): Fate {
    const s = this.s;
    const f = this.fate;
    this.st.seen++;
    if (this.lost()) {
      this.st.dropped++;
      if (!this.lastLost) this.st.bursts++;
      this.lastLost = true;
      f.copies = 0;
      return f;
    }
    this.lastLost = false;
    let dep = Math.max(nowMs, nowMs + s.delayMs + this.jitter());
    if (!s.jitterReorders && dep < this.lastDeparture) dep = this.lastDeparture;
    if (s.reorder > 0 && this.rReorder() < s.reorder) dep += s.reorderDelayMs;
    else this.lastDeparture = dep;
    this.countOvertaken(nowMs, dep);
    f.copies = 1;
    f.delayMs[0] = dep - nowMs;
    this.st.delivered++;
    if (s.duplicate > 0 && this.rDup() < s.duplicate) {
      let dep2 = Math.max(nowMs, nowMs + s.delayMs + this.jitter());
      if (dep2 < dep) dep2 = dep;
      f.copies = 2;
      f.delayMs[1] = dep2 - nowMs;
      this.st.duplicated++;
      this.st.delivered++;
    }
    return f;
  }

  private lost(): boolean {
    const g = this.chain;
    if (!g) return this.s.loss > 0 && this.rLoss() < this.s.loss;
    const p = this.bad ? g.lossBad : g.lossGood;
    // Draw the loss only when it is not certain either way, so a simple Gilbert chain spends
    // one draw per datagram (its transition).
    const lost = p >= 1 ? true : p <= 0 ? false : this.rLoss() < p;
    const t = this.bad ? g.pBadToGood : g.pGoodToBad;
    if (t > 0 && this.rLoss() < t) this.bad = !this.bad;
    return lost;
  }

  private jitter(): number {
    const j = this.s.jitterMs;
    if (j <= 0) return 0;
    if (this.s.jitterShape === 'uniform') return (2 * this.rJitter() - 1) * j;
    // Truncated normal, sigma j/2: Box-Muller, redrawn outside +-j (about 5 % of draws).
    for (;;) {
      const u = 1 - this.rJitter();
      const v = this.rJitter();
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v) * (j / 2);
      if (z >= -j && z <= j) return z;
    }
  }

  private countOvertaken(nowMs: number, dep: number): void {
    const q = this.pending;
    while (this.pendingHead < q.length && q[this.pendingHead]! <= nowMs) this.pendingHead++;
    while (q.length > this.pendingHead && q[q.length - 1]! > dep) { q.pop(); this.st.reordered++; }
    if (this.pendingHead > 1024 && this.pendingHead * 2 > q.length) { q.splice(0, this.pendingHead); this.pendingHead = 0; }
    q.push(dep);
  }
}

// The impairment model (test-rig/net/impairment.ts): its statistics over 100 000 seeded
// decisions, its Gilbert arithmetic, its reorder count, and its refusals.
import t from 'tap';
import { Impairment, ImpairmentSettingError, gilbertElliottMeanLoss, gilbertFromLossAndBurst, type Fate, type ImpairmentSettings } from '../impairment.js';

const N = 100_000;

/** Runs n decisions, one per `stepMs`, and returns the fates (copied). */
function run(m: Impairment, n: number, stepMs = 1, t0 = 0): { copies: number; delayMs: number[] }[] {
  const out: { copies: number; delayMs: number[] }[] = [];
  for (let i = 0; i < n; i++) {
    const f: Fate = m.decide(t0 + i * stepMs);
    out.push({ copies: f.copies, delayMs: f.delayMs.slice(0, f.copies) });
  }
  return out;
}

/** Lengths of the runs of lost datagrams. */
function bursts(fates: { copies: number }[]): number[] {
  const b: number[] = [];
  let n = 0;
  for (const f of fates) {
    if (f.copies === 0) n++;
    else if (n) { b.push(n); n = 0; }
  }
  if (n) b.push(n);
  return b;
}

const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;

t.test('Bernoulli loss: 20 % within 1 point over 100 000 decisions, bursts of mean 1/(1-p)', async (t) => {
  for (const seed of [1, 2, 3]) {
    const m = new Impairment({ loss: 0.2 }, { seed });
    const fates = run(m, N);
    const lost = fates.filter((f) => f.copies === 0).length;
    t.ok(Math.abs(lost / N - 0.2) < 0.01, `seed ${seed}: ${(100 * lost / N).toFixed(2)} % lost`);
    t.equal(m.stats.dropped, lost, 'stats.dropped counts the fates of 0 copies');
    t.equal(m.stats.seen, N);
    t.equal(m.stats.delivered, N - lost);
    const b = bursts(fates);
    t.equal(m.stats.bursts, b.length, 'stats.bursts counts the runs of losses');
    t.ok(Math.abs(m.stats.meanBurst - 1.25) < 0.03, `seed ${seed}: mean burst ${m.stats.meanBurst.toFixed(3)} (1/(1-p) = 1.25)`);
  }
  const none = new Impairment({}, { seed: 1 });
  t.equal(run(none, 1000).filter((f) => f.copies !== 1).length, 0, 'no settings: every datagram once');
});

t.test('Gilbert from mean loss p and mean burst b: r = 1/b, p_gb = p r/(1-p); observed mean loss ~p and mean burst ~b', async (t) => {
  t.same(gilbertFromLossAndBurst(0.2, 5), { pGoodToBad: 0.05000000000000001, pBadToGood: 0.2, lossGood: 0, lossBad: 1 });
  t.equal(gilbertElliottMeanLoss(gilbertFromLossAndBurst(0.25, 3)), 0.25, 'the chain built has the mean loss asked for');
  for (const [p, b] of [[0.2, 5], [0.25, 3], [0.05, 10]] as const) {
    const m = new Impairment({ loss: p, burst: b }, { seed: 11 });
    const fates = run(m, N);
    const lost = fates.filter((f) => f.copies === 0).length / N;
    const obs = bursts(fates);
    t.ok(Math.abs(lost - p) < 0.02, `p ${p} b ${b}: ${(100 * lost).toFixed(2)} % lost`);
    t.ok(Math.abs(mean(obs) - b) / b < 0.08, `p ${p} b ${b}: mean burst ${mean(obs).toFixed(2)} over ${obs.length} bursts`);
    t.equal(m.stats.meanBurst, mean(obs), 'stats.meanBurst is the observed one');
    // Bursty: a burst of 3b or more is far more common than under independent loss (p^(3b)).
    t.ok(obs.filter((x) => x >= 3 * b).length > 0.02 * obs.length, `p ${p} b ${b}: bursts of >= ${3 * b} happen`);
  }
});

t.test('Gilbert-Elliott: loss in both states, stationary mean loss', async (t) => {
  const g = { pGoodToBad: 0.05, pBadToGood: 0.2, lossGood: 0.01, lossBad: 0.5 };
  t.ok(Math.abs(gilbertElliottMeanLoss(g) - 0.108) < 1e-12, 'mean loss 0.8 * 0.01 + 0.2 * 0.5');
  const m = new Impairment({ gilbertElliott: g, loss: 0.9, burst: 2 }, { seed: 5 });
  const lost = run(m, N).filter((f) => f.copies === 0).length / N;
  t.ok(Math.abs(lost - 0.108) < 0.01, `${(100 * lost).toFixed(2)} % lost (loss and burst are not used while gilbertElliott is set)`);
  m.set({ gilbertElliott: null, burst: null, loss: 0 });
  t.equal(m.inBadState, false, 'back to Bernoulli: the chain state is cleared');
  t.equal(run(m, 1000).filter((f) => f.copies === 0).length, 0);
});

t.test('delay and jitter: fixed delay, uniform and truncated-normal jitter within the bound, order kept unless jitter may reorder', async (t) => {
  const fixed = run(new Impairment({ delayMs: 12.5 }), 100);
  t.ok(fixed.every((f) => f.copies === 1 && f.delayMs[0] === 12.5), 'fixed 12.5 ms');
  for (const shape of ['uniform', 'normal'] as const) {
    const m = new Impairment({ delayMs: 20, jitterMs: 4, jitterShape: shape, jitterReorders: true }, { seed: 3 });
    const d = run(m, N).map((f) => f.delayMs[0]!);
    t.ok(d.every((x) => x >= 16 && x <= 24), `${shape}: every delay within 20 +- 4 ms`);
    const mu = mean(d);
    const sd = Math.sqrt(mean(d.map((x) => (x - mu) ** 2)));
    t.ok(Math.abs(mu - 20) < 0.05, `${shape}: mean ${mu.toFixed(3)} ms`);
    // Uniform over +-4: sd 4/sqrt(3) = 2.31; normal sigma 2 truncated at 2 sigma: 1.76.
    const want = shape === 'uniform' ? 4 / Math.sqrt(3) : 1.76;
    t.ok(Math.abs(sd - want) < 0.05, `${shape}: sd ${sd.toFixed(3)} ms (expected ${want.toFixed(2)})`);
    t.ok(m.stats.reordered > 0.3 * N, `${shape}, jitter may reorder, 1 ms apart: ${m.stats.reordered} overtaken`);
  }
  const inOrder = new Impairment({ delayMs: 20, jitterMs: 4 }, { seed: 3 });
  const fates = run(inOrder, N);
  const departures = fates.map((f, i) => i + f.delayMs[0]!);
  t.ok(departures.every((x, i) => i === 0 || x >= departures[i - 1]!), 'jitterReorders false: departures never go backwards');
  t.equal(inOrder.stats.reordered, 0);
  const clamped = run(new Impairment({ delayMs: 1, jitterMs: 5, jitterReorders: true }, { seed: 2 }), 10_000);
  t.ok(clamped.every((f) => f.delayMs[0]! >= 0), 'a delay never goes below 0');
});

t.test('reordering: held back datagrams, counted once each as RFC 4737 does (overtaken), whatever number overtook them', async (t) => {
  const p = 0.05;
  // One datagram per ms, held 1.5 ms: a held one is overtaken by the next unless it is held too.
  const a = new Impairment({ delayMs: 10, reorder: p, reorderDelayMs: 1.5 }, { seed: 9 });
  run(a, N);
  t.ok(Math.abs(a.stats.reordered / N - p * (1 - p)) < 0.003, `hold 1.5 ms: ${a.stats.reordered} reordered (p(1-p) N = ${p * (1 - p) * N})`);
  // Held 2.5 ms: overtaken by the next two; still one reordered datagram, p(1-p^2).
  const b = new Impairment({ delayMs: 10, reorder: p, reorderDelayMs: 2.5 }, { seed: 9 });
  const fb = run(b, N);
  t.ok(Math.abs(b.stats.reordered / N - p * (1 - p * p)) < 0.003, `hold 2.5 ms: ${b.stats.reordered} reordered (p(1-p^2) N = ${(p * (1 - p * p) * N).toFixed(0)})`);
  // The same count from the departures, as a receiver would see them: sort by departure (stable),
  // count datagrams arriving below the highest index already arrived.
  const order = fb.map((f, i) => ({ i, dep: i + f.delayMs[0]! })).sort((x, y) => x.dep - y.dep || x.i - y.i);
  let highest = -1, late = 0;
  for (const o of order) { if (o.i < highest) late++; else highest = o.i; }
  t.equal(late, b.stats.reordered, 'the receiver-side RFC 4737 count equals stats.reordered');
  // Far apart (10 ms between datagrams) nothing overtakes a 2.5 ms hold.
  const c = new Impairment({ delayMs: 10, reorder: p, reorderDelayMs: 2.5 }, { seed: 9 });
  run(c, 10_000, 10);
  t.equal(c.stats.reordered, 0, 'held 2.5 ms, 10 ms apart: nothing reordered');
});

t.test('duplication: rate within tolerance, the second copy never before the first', async (t) => {
  const m = new Impairment({ duplicate: 0.05, delayMs: 5, jitterMs: 2 }, { seed: 4 });
  const fates = run(m, N);
  const dups = fates.filter((f) => f.copies === 2);
  t.ok(Math.abs(dups.length / N - 0.05) < 0.004, `${dups.length} duplicated`);
  t.equal(m.stats.duplicated, dups.length);
  t.equal(m.stats.delivered, N + dups.length);
  t.ok(dups.every((f) => f.delayMs[1]! >= f.delayMs[0]!), 'copy 2 leaves at or after copy 1');
  t.ok(dups.some((f) => f.delayMs[1]! > f.delayMs[0]!), 'with its own jitter');
});

t.test('seeds: identical seeds give identical fates; the loss pattern does not depend on the other settings', async (t) => {
  const s: Partial<ImpairmentSettings> = { loss: 0.2, burst: 4, delayMs: 10, jitterMs: 3, jitterReorders: true, reorder: 0.02, duplicate: 0.02 };
  const a = run(new Impairment(s, { seed: 42 }), 20_000);
  const b = run(new Impairment(s, { seed: 42 }), 20_000);
  t.same(a, b, 'seed 42 twice: the same 20 000 fates');
  const c = run(new Impairment(s, { seed: 43 }), 20_000);
  t.not(JSON.stringify(a), JSON.stringify(c), 'seed 43 differs');
  const lossOnly = run(new Impairment({ loss: 0.2, burst: 4 }, { seed: 42 }), 20_000);
  t.same(a.map((f) => f.copies === 0), lossOnly.map((f) => f.copies === 0), 'the same datagrams are lost without jitter, reordering, duplication');
  // An injected random source is used for every draw.
  const all = new Impairment({ loss: 0.5 }, { random: () => 0 });
  t.equal(run(all, 100).filter((f) => f.copies === 0).length, 100, 'random() = 0: below every probability');
});

t.test('set() at run time: a loss step changes the observed loss; a bad change throws and leaves the model as it was', async (t) => {
  const m = new Impairment({ loss: 0.05 }, { seed: 8 });
  const before = run(m, 50_000).filter((f) => f.copies === 0).length / 50_000;
  m.set({ loss: 0.3 });
  const after = run(m, 50_000, 1, 50_000).filter((f) => f.copies === 0).length / 50_000;
  t.ok(Math.abs(before - 0.05) < 0.01 && Math.abs(after - 0.3) < 0.01, `loss step 5 % -> 30 %: observed ${(100 * before).toFixed(2)} % then ${(100 * after).toFixed(2)} %`);
  m.set({ burst: 5 });
  const bursty = run(m, N, 1, 100_000);
  t.ok(Math.abs(mean(bursts(bursty)) - 5) < 0.4, `set({ burst: 5 }) keeps loss 0.3: bursts of mean ${mean(bursts(bursty)).toFixed(2)}`);
  t.equal(m.settings.loss, 0.3);
  t.throws(() => m.set({ loss: 1.5 }), { name: 'ImpairmentSettingError', setting: 'loss', value: 1.5 });
  t.throws(() => m.set({ delayMs: -1 }), /impairment setting delayMs: -1 is not a finite number >= 0/);
  t.throws(() => m.set({ jitterShape: 'pareto' as 'normal' }), ImpairmentSettingError);
  t.throws(() => m.set({ gilbertElliott: { pGoodToBad: 0.1, pBadToGood: 2, lossGood: 0, lossBad: 1 } }), /gilbertElliott.pBadToGood: 2/);
  t.same({ loss: m.settings.loss, burst: m.settings.burst, delayMs: m.settings.delayMs }, { loss: 0.3, burst: 5, delayMs: 0 }, 'the refused changes left the settings');
  t.throws(() => gilbertFromLossAndBurst(0.2, 0.5), /burst: 0.5 is not a mean burst length >= 1/);
  t.throws(() => gilbertFromLossAndBurst(0.9, 1), /burst: 1 is too short for mean loss 0.9 \(needs >= 9.000\)/);
  t.throws(() => new Impairment({ duplicate: NaN }), /duplicate: NaN is not within 0..1/);
});

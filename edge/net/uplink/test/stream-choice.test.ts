/**
 * The adaptive hq/lq choice against simulated receiver reports (seeded loss, reports every
 * 100 ms, the packet rate of the stream being sent). The same step through the real sender and
 * a lossy proxy is in the uplink end-to-end test.
 */
import t from 'tap';
import { mulberry32 } from '../../../demo/prng.js';
import { StreamChoice } from '../stream-choice.js';

/** Runs `seconds` of reports at `lossAt(t)`; returns the times `want` changed. */
function simulate(c: StreamChoice, seconds: number, lossAt: (tMs: number) => number, seed = 1, rttMs = 20, t0 = 0) {
  const rnd = mulberry32(seed);
  let lost = 0, highest = 1000;
  const changes: { t: number; want: string; reason: string }[] = [];
  for (let tMs = t0; tMs < t0 + seconds * 1000; tMs += 100) {
    const pps = c.state.want === 'hq' ? 700 : 150; // 8 Mb/s vs 1.5 Mb/s at ~1400-byte packets
    for (let i = 0; i < pps / 10; i++) { highest++; if (rnd() < lossAt(tMs)) lost++; }
    const before = c.state.want;
    c.report(tMs, lost, highest, rttMs, 2);
    if (c.state.want !== before) changes.push({ t: tMs, want: c.state.want, reason: c.state.reason });
  }
  return changes;
}

t.test('a loss step 0 -> 30 % -> 0: lq within 1 s of the step up, hq within 10 s of the step down', async (t) => {
  const c = new StreamChoice({ mode: 'auto', latencyMs: 200 });
  const changes = simulate(c, 40, (ms) => (ms >= 10_000 && ms < 20_000 ? 0.3 : 0));
  t.equal(changes.length, 2, 'one switch each way, no flapping');
  const [down, up] = changes;
  t.equal(down!.want, 'lq');
  t.ok(down!.t - 10_000 <= 1000, `on lq ${down!.t - 10_000} ms after the step up`);
  t.match(down!.reason, /^lq: loss \d+\.\d % over 500 ms >= 20\.0 %$/);
  t.equal(up!.want, 'hq');
  t.ok(up!.t - 20_000 <= 10_000 && up!.t - 20_000 >= 5000, `back on hq ${up!.t - 20_000} ms after the step down (hold 5 s)`);
  t.match(up!.reason, /^hq: loss 0\.0 % <= 10\.0 %, RTT and repair fine for 5 s$/);
  t.equal(c.state.switches, 2);
});

t.test('a steady 5 % for ten minutes never switches; a steady 12 % (between the thresholds) neither', async (t) => {
  for (const [p, seed] of [[0.05, 7], [0.12, 8]] as const) {
    const c = new StreamChoice({ mode: 'auto', latencyMs: 200 });
    t.same(simulate(c, 600, () => p, seed), [], `${Math.round(p * 100)} %: no switch`);
    t.equal(c.state.want, 'hq');
    t.ok(Math.abs(c.state.loss! - p) < 0.05, `windowed loss ${c.state.loss} near ${p}`);
  }
});

t.test('an RTT that leaves fewer than 3 repair rounds, or repair trouble, sends lq; pinned modes never move', async (t) => {
  const c = new StreamChoice({ mode: 'auto', latencyMs: 200 });
  simulate(c, 2, () => 0, 1, 20);
  t.equal(c.state.want, 'hq');
  simulate(c, 1, () => 0, 1, 90, 2000);
  t.equal(c.state.want, 'lq');
  t.match(c.state.reason, /^lq: RTT 90 ms leaves under 3 repair rounds in the 200 ms buffer$/);
  const d = new StreamChoice({ mode: 'auto', latencyMs: 200 });
  simulate(d, 2, () => 0);
  d.repairTrouble(2100, '12 retransmissions over the bandwidth cap');
  t.equal(d.state.want, 'lq');
  t.equal(d.state.reason, 'lq: repair not keeping up (12 retransmissions over the bandwidth cap)');
  const p = new StreamChoice({ mode: 'hq', latencyMs: 200 });
  simulate(p, 5, () => 0.5);
  t.equal(p.state.want, 'hq');
  t.equal(p.state.reason, 'pinned to hq by configuration');
  t.throws(() => new StreamChoice({ mode: 'auto', latencyMs: 200, toLqLoss: 0.1, toHqLoss: 0.1 }), /toHqLoss \(0\.1\) must be below toLqLoss \(0\.1\)/);
});

t.test('a receiver that restarts its counters starts the window over instead of reading negative loss', async (t) => {
  const c = new StreamChoice({ mode: 'auto', latencyMs: 200 });
  c.report(0, 500, 100_000, 20, 1);
  c.report(100, 510, 100_070, 20, 1);
  c.report(200, 0, 70, 20, 1);
  t.equal(c.state.loss, null, 'one sample since the restart: no judgement');
  c.report(300, 2, 140, 20, 1);
  t.ok(Math.abs(c.state.loss! - 2 / 70) < 1e-9);
});

t.test('a stream of few packets (a still scene: 30 packets/s on both streams) is judged over a longer window, and still switches both ways', async (t) => {
  const c = new StreamChoice({ mode: 'auto', latencyMs: 200 });
  const rnd = mulberry32(9);
  let lost = 0, highest = 0;
  const changes: { t: number; want: string }[] = [];
  for (let ms = 0; ms < 40_000; ms += 100) {
    const p = ms >= 10_000 && ms < 20_000 ? 0.3 : 0;
    for (let i = 0; i < 3; i++) { highest++; if (rnd() < p) lost++; }
    const before = c.state.want;
    c.report(ms, lost, highest, 20, 1);
    if (c.state.want !== before) changes.push({ t: ms, want: c.state.want });
  }
  t.same(changes.map((x) => x.want), ['lq', 'hq']);
  t.ok(changes[0]!.t - 10_000 <= 1500, `lq ${changes[0]!.t - 10_000} ms after the step up`);
  t.ok(changes[1]!.t - 20_000 <= 10_000, `hq ${changes[1]!.t - 20_000} ms after the step down`);
});

/**
 * The playout buffer, with "now" injected: exact slots for in-order, reordered, lost, late,
 * duplicate packets, the 65535 -> 0 wrap, a sender jump (resync), capacity, option errors; and
 * the echo delay estimator on known delayed signals.
 */
import t from 'tap';
import { EchoDelayEstimator, JitterBuffer, JitterBufferOptionError } from '../index.js';
import { speechLike } from '../../../../test-rig/audio/voice-peer.js';

const P = new Uint8Array([0xf8, 1, 2]);
const kinds = (jb: JitterBuffer, now: number) => jb.pop(now).map((s) => `${s.kind}:${s.sequence}`);

t.test('in order across the sequence wrap: each packet plays delayMs after its arrival slot', async (t) => {
  const jb = new JitterBuffer({ delayMs: 40 });
  for (let k = 0; k < 6; k++) jb.push((65533 + k) & 0xffff, 1000 + 960 * k, P, 20 * k);
  t.same(kinds(jb, 39), [], 'nothing before the delay');
  t.same(kinds(jb, 40), ['packet:65533']);
  t.same(kinds(jb, 100), ['packet:65534', 'packet:65535', 'packet:0'], 'one slot per 20 ms');
  const s = jb.stats();
  t.same({ played: s.played, lost: s.lost, late: s.late, depth: s.depth }, { played: 4, lost: 0, late: 0, depth: 2 });
});

t.test('reordered packets play in order; a missing one is lost; a late one is dropped and counted', async (t) => {
  const jb = new JitterBuffer({ delayMs: 40 });
  jb.push(10, 0, P, 0);
  jb.push(12, 1920, P, 40);
  jb.push(11, 960, P, 41); // reordered, in time for its slot at 60
  jb.push(14, 3840, P, 80); // 13 never comes
  t.same(kinds(jb, 120), ['packet:10', 'packet:11', 'packet:12', 'lost:13', 'packet:14']);
  jb.push(13, 2880, P, 130); // after its slot: late
  jb.push(14, 3840, P, 131); // also behind
  jb.push(15, 4800, P, 132);
  jb.push(15, 4800, P, 133);
  const s = jb.stats();
  t.same({ lost: s.lost, late: s.late, duplicate: s.duplicate, depth: s.depth }, { lost: 1, late: 2, duplicate: 1, depth: 1 });
});

t.test('a sender jump restarts the schedule; capacity bounds what is held', async (t) => {
  const jb = new JitterBuffer({ delayMs: 40, capacity: 16 });
  jb.push(1, 0, P, 0);
  jb.push(2, 48000 * 30, P, 20); // 30 s ahead: a restarted sender
  t.equal(jb.stats().resyncs, 1);
  t.same(kinds(jb, 60), ['packet:2']);
  for (let k = 3; k < 40; k++) jb.push(k, 48000 * 30 + 960 * (k - 2), P, 61);
  t.equal(jb.stats().depth, 16);
  t.equal(jb.stats().overflow, 37 - 16);
  t.throws(() => new JitterBuffer({ delayMs: 600 }), /jitter buffer option delayMs: 600 is not in 0..500/);
  t.ok(new JitterBufferOptionError('x', 'y') instanceof RangeError);
  t.throws(() => new JitterBuffer({ capacity: 3 }), /capacity: 3 is not an integer in 16..1000/);
});

t.test('RFC 3550 jitter: steady arrivals read 0, 10 ms alternating arrivals read about 10 ms', async (t) => {
  const a = new JitterBuffer();
  for (let k = 0; k < 200; k++) a.push(k, 960 * k, P, 20 * k);
  t.equal(a.stats().jitterMs, 0);
  const b = new JitterBuffer();
  for (let k = 0; k < 400; k++) b.push(k & 0xffff, 960 * k, P, 20 * k + (k % 2 ? 10 : 0));
  t.ok(Math.abs(b.stats().jitterMs - 10) < 1, `${b.stats().jitterMs} ms`);
});

t.test('echo delay estimator: finds 30 and 150 ms in a speech-like signal, needs two agreeing estimates, ignores silence', async (t) => {
  for (const ms of [30, 150]) {
    const far = speechLike(4);
    const d = (ms * 48000) / 1000;
    const mic = new Int16Array(far.length);
    for (let i = d; i < far.length; i++) mic[i] = far[i - d] * 0.3;
    const e = new EchoDelayEstimator();
    const found: (number | undefined)[] = [];
    for (let s = 0; s < 4; s++) {
      e.addFar(far.subarray(s * 48000, (s + 1) * 48000), s * 48000);
      e.addMic(mic.subarray(s * 48000, (s + 1) * 48000), s * 48000);
      found.push(e.estimate());
    }
    t.equal(found[0], undefined, 'nothing from less than a window');
    t.equal(found[3], ms, `${ms} ms found (peak ${e.lastPeak}); estimates ${found.join(', ')}`);
  }
  const e = new EchoDelayEstimator();
  e.addFar(new Int16Array(48000 * 3), 0);
  e.addMic(new Int16Array(48000 * 3), 0);
  e.estimate(); e.estimate();
  t.equal(e.delayMs, undefined, 'silence gives no estimate');
});

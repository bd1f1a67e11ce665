import t from 'tap';
import { MAX_SEQS_PER_NACK, NackGenerator, type NackGeneratorOptions } from '../nack-generator.js';
import { forEachFeedback, forEachNackedSeq } from '../rtcp-feedback.js';
import { writeFixedHeader } from '../header.js';
import type { StreamInfo } from '../interceptor.js';

const MEDIA = 0x01020304;
const RECEIVER = 0x0badcafe;
const info: StreamInfo = { name: 'or1/hq', kind: 'video', ssrc: MEDIA, payloadType: 96, clockRate: 90000 };

function rig(opts: Partial<NackGeneratorOptions> = {}) {
  const clock = { ms: 0 };
  const nacks: { at: number; bytes: Buffer }[] = [];
  const app: number[] = [];
  const g = new NackGenerator({ now: () => clock.ms, senderSsrc: RECEIVER, ...opts });
  g.bindRtcpWriter((p, n) => nacks.push({ at: clock.ms, bytes: Buffer.from(p.subarray(0, n)) }));
  const sink = g.bindRemoteStream(info, (p) => app.push((p[2] << 8) | p[3]));
  const pkt = Buffer.alloc(20);
  const recv = (...seqs: number[]): void => {
    for (const s of seqs) { writeFixedHeader(pkt, false, 96, s, 0, MEDIA); sink(pkt, pkt.length); }
  };
  const run = (untilMs: number): void => { while (clock.ms < untilMs) { clock.ms++; g.tick(clock.ms); } };
  return { g, clock, nacks, app, recv, run };
}

/** Every sequence number a NACK packet names, in order. */
function asked(b: Buffer): number[] {
  const out: number[] = [];
  forEachFeedback(b, b.length, { onNack: (_h, pid, blp) => { forEachNackedSeq(pid, blp, (s) => out.push(s)); } });
  return out;
}

t.test('a gap is NACKed at once, in the exact bytes of one Generic NACK', async (t) => {
  const { g, nacks, app, recv } = rig();
  recv(10, 11, 15);
  t.same(app, [10, 11, 15], 'every packet reaches the application');
  t.equal(nacks.length, 1, 'asked in the call that saw the gap, before any tick');
  t.same([...nacks[0].bytes], [0x81, 205, 0x00, 0x03, 0x0b, 0xad, 0xca, 0xfe, 0x01, 0x02, 0x03, 0x04, 0x00, 0x0c, 0x00, 0x03]);
  t.equal(g.ssrc, RECEIVER);
  t.same(g.statsOf('or1/hq'), { stream: 'or1/hq', received: 3, lostBeforeRepair: 3, nacksSent: 1, packetsAsked: 3, repaired: 0, givenUp: 0, resets: 0 });
});

t.test('repeats every retryMs until latencyMs after the gap, then gives up', async (t) => {
  const { g, nacks, recv, run } = rig({ retryMs: 20, latencyMs: 100 });
  recv(1, 3);
  run(150);
  t.same(nacks.map((n) => n.at), [0, 20, 40, 60, 80], 'asked at 0, then every 20 ms while before the deadline');
  t.ok(nacks.every((n) => asked(n.bytes).join() === '2'));
  const s = g.statsOf('or1/hq')!;
  t.equal(s.givenUp, 1, 'given up at 100 ms');
  t.equal(s.packetsAsked, 5);
  t.equal(g.pendingOf('or1/hq'), 0);
  recv(2);
  t.equal(g.statsOf('or1/hq')!.repaired, 0, 'arriving after the deadline is not a repair');
});

t.test('a packet that arrives (late, by RTX or by FEC) is no longer asked for', async (t) => {
  const { g, nacks, recv, run } = rig({ retryMs: 20, latencyMs: 200 });
  recv(10, 11, 15);
  run(5);
  recv(13);
  run(20);
  t.equal(nacks.length, 2);
  t.same([...nacks[1].bytes.subarray(12)], [0x00, 0x0c, 0x00, 0x02], 'PID 12, BLP bit 1 (14): 13 is gone');
  recv(12, 14);
  run(200);
  t.equal(nacks.length, 2, 'nothing left to ask');
  const s = g.statsOf('or1/hq')!;
  t.equal(s.repaired, 3);
  t.equal(s.givenUp, 0);
  recv(12);
  t.equal(g.statsOf('or1/hq')!.repaired, 3, 'a duplicate is not counted twice');
});

t.test('fecWaitMs: the first NACK waits, and what FEC rebuilt meanwhile is never asked', async (t) => {
  const { g, nacks, recv, run } = rig({ retryMs: 20, latencyMs: 200, fecWaitMs: 15 });
  recv(1, 5);
  t.equal(nacks.length, 0, 'not at once');
  run(10);
  recv(3); // FEC rebuilt it
  run(14);
  t.equal(nacks.length, 0);
  run(15);
  t.equal(nacks.length, 1);
  t.equal(nacks[0].at, 15);
  t.same(asked(nacks[0].bytes), [2, 4]);
  t.equal(g.statsOf('or1/hq')!.repaired, 1);
});

t.test('sequence numbers wrap at 65535 -> 0', async (t) => {
  const { nacks, recv } = rig();
  recv(65533, 65534, 1);
  t.equal(nacks.length, 1);
  t.same([...nacks[0].bytes.subarray(12)], [0xff, 0xff, 0x00, 0x01], 'PID 65535, BLP bit 0 (0)');
  recv(2, 3, 5);
  t.same(asked(nacks[1].bytes), [4], 'after the wrap, unwrapped numbers keep going');
});

t.test('a huge jump (a restarted sender) resets instead of asking for 30 000 packets', async (t) => {
  const { g, nacks, recv, run } = rig();
  recv(100, 102);
  recv(30_100);
  t.equal(nacks.length, 1, 'only the NACK for 101 before the jump');
  recv(30_101, 30_103);
  t.same(asked(nacks[1].bytes), [30_102], 'tracking goes on from the new numbers');
  recv(5); // and back down again
  recv(6, 8);
  t.same(asked(nacks[2].bytes), [7]);
  run(300);
  const s = g.statsOf('or1/hq')!;
  t.equal(s.resets, 2);
  t.equal(s.lostBeforeRepair, 3);
  t.ok(s.packetsAsked < 100, `asked ${s.packetsAsked} numbers in all`);
});

t.test('bounded: maxPending keeps the newest missing packets, NACKs are split at MAX_SEQS_PER_NACK', async (t) => {
  const a = rig({ maxPending: 16, resetJump: 5000 });
  a.recv(0, 1001);
  t.equal(a.g.pendingOf('or1/hq'), 16);
  t.same(asked(a.nacks[0].bytes), Array.from({ length: 16 }, (_, i) => 985 + i), 'the newest 16 are asked');
  t.equal(a.g.statsOf('or1/hq')!.givenUp, 1000 - 16);
  const b = rig({ maxPending: 1024 });
  b.recv(0, 301);
  t.equal(b.nacks.length, 2);
  t.equal(asked(b.nacks[0].bytes).length, MAX_SEQS_PER_NACK);
  t.same(asked(b.nacks[1].bytes), Array.from({ length: 300 - MAX_SEQS_PER_NACK }, (_, i) => 1 + MAX_SEQS_PER_NACK + i));
  t.equal(b.nacks[0].bytes.length, 12 + 4 * Math.ceil(MAX_SEQS_PER_NACK / 17), 'consecutive losses pack 17 to an FCI');
  t.throws(() => new NackGenerator({ now: () => 0, retryMs: 2 }), { name: 'RtpOptionError', option: 'retryMs' });
  t.throws(() => new NackGenerator({ now: () => 0, fecWaitMs: 300, latencyMs: 200 }), { name: 'RtpOptionError', option: 'fecWaitMs' });
});

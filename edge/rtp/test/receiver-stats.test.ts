import t from 'tap';
import { ReceiverStats, RR_ONE_BLOCK_SIZE } from '../receiver-stats.js';
import { ReceiverReports } from '../receiver-reports.js';
import { ntpFromUnixNs } from '../rtcp.js';

const T0 = 1_700_000_000_000_000_000n;
const ms = (n: number) => T0 + BigInt(Math.round(n * 1e6));

t.test('an RR with exact fields: loss, fraction, extended seq across the wrap, jitter 0 at a steady pace, LSR/DLSR', async (t) => {
  const s = new ReceiverStats(0xcafebabe);
  // 100 packets from seq 65500 (wrapping past 65535), every 10 ms, RTP time 900 ticks apart; 10 lost.
  for (let i = 0; i < 100; i++) if (i % 10 !== 5) s.onPacket((65500 + i) & 0xffff, 1000 + i * 900, ms(i * 10));
  s.onSenderReport(ntpFromUnixNs(ms(500)), ms(500));
  const buf = Buffer.alloc(64, 0xee);
  const n = s.encodeReport(0x01020304, 'rx', ms(1500), buf);
  t.equal(n, RR_ONE_BLOCK_SIZE + 16, 'RR 32 bytes + SDES: header 4, SSRC 4, item 2+2, null, padded to 16');
  const lsr = ((Number(ntpFromUnixNs(ms(500)).msw) & 0xffff) * 65536 + (ntpFromUnixNs(ms(500)).lsw >>> 16)) >>> 0;
  t.equal(buf.subarray(0, RR_ONE_BLOCK_SIZE).toString('hex'), [
    '81c90007', '01020304', 'cafebabe',
    '19', '00000a', // fraction 10/100*256 = 25.6 -> 25; cumulative 10
    (65500 + 99).toString(16).padStart(8, '0'), // 65599: the wrap counted into the extended seq (cycle 1)
    '00000000', // constant transit: jitter 0
    lsr.toString(16).padStart(8, '0'), (65536).toString(16).padStart(8, '0'), // DLSR 1 s
  ].join(''));
  t.equal(buf[n], 0xee, 'nothing past the end');
  t.throws(() => s.encodeReport(1, 'rx', ms(1600), Buffer.alloc(RR_ONE_BLOCK_SIZE + 11)), { name: 'BufferTooSmallError' });
});

t.test('fraction lost is per interval; late and duplicate packets count as received, never move the highest back', async (t) => {
  const s = new ReceiverStats(7);
  for (let i = 0; i < 50; i++) s.onPacket(i, i * 3000, ms(i * 33));
  const b = Buffer.alloc(64);
  s.encodeReport(1, 'x', ms(2000), b);
  t.equal(b[12], 0);
  for (let i = 50; i < 100; i += 2) s.onPacket(i, i * 3000, ms(i * 33)); // half of the next 50 lost
  s.encodeReport(1, 'x', ms(4000), b);
  t.equal(b[12], 125, '24 of 49 expected lost in the interval: floor(24*256/49) = 125');
  t.equal(s.cumulativeLost, 24);
  s.onPacket(51, 51 * 3000, ms(4100)); // a repair (late)
  t.equal(s.cumulativeLost, 23);
  t.equal(s.extendedHighest, 98);
  s.onPacket(51, 51 * 3000, ms(4101)); // a duplicate
  t.equal(s.cumulativeLost, 22, 'RFC 3550 §A.3: duplicates make the count smaller, even negative');
});

t.test('jitter follows §A.8 and the sender side (ReceiverReports) reads our report back: loss, jitter and RTT', async (t) => {
  const s = new ReceiverStats(0x1234, 90_000);
  // Arrivals alternate 0 and 10 ms late: |D| = 900 units each time, J -> 900.
  for (let i = 0; i < 400; i++) s.onPacket(i, i * 3000, ms(i * 33.333333 + (i % 2) * 10));
  t.ok(Math.abs(s.jitterUnits - 900) < 5, `jitter ${s.jitterUnits.toFixed(1)} units, near 900 (10 ms)`);
  const srAt = ms(10_000);
  s.onSenderReport(ntpFromUnixNs(srAt), ms(10_010)); // reached us 10 ms after it was sent
  const buf = Buffer.alloc(64);
  const n = s.encodeReport(0x99, 'expert', ms(10_110), buf);  // 100 ms later
  const rr = new ReceiverReports({ mediaSsrc: 0x1234 });
  rr.onRtcp(buf, n, ms(10_120)); // reached the sender 10 ms later
  const [v] = rr.snapshot(ms(10_120));
  t.equal(v!.cname, 'expert');
  t.ok(Math.abs(v!.jitterMs - 10) < 0.1, `jitter ${v!.jitterMs} ms`);
  t.ok(Math.abs(v!.rttMs! - 20) < 0.1, `RTT ${v!.rttMs} ms: 120 ms since the SR minus 100 ms held`);
  t.equal(v!.cumulativeLost, 0);
});

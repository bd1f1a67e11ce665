/**
 * Per-SSRC state: ROC across 65535 -> 0 on both sides, the sending side's refusal to reuse an
 * index, export/import resume, the replay window, bounded contexts, tampering and truncation,
 * and seeded random garbage.
 */
import t from 'tap';
import { SrtpReceiver, SrtpSender, rtpClearHeaderLength } from '../context.js';
import { SrtpDrop } from '../errors.js';
import { ReplayWindow } from '../replay.js';
import { estimateIndex } from '../packet-index.js';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, type SrtpKeying, type SrtpSuite } from '../suites.js';
import { writeFixedHeader } from '../../rtp/header.js';

const keyingOf = (suite: SrtpSuite): SrtpKeying => ({
  suite,
  masterKey: Uint8Array.from({ length: 16 }, (_, i) => i + 1),
  masterSalt: Uint8Array.from({ length: suite.masterSaltLength }, (_, i) => 0xa0 + i),
});
const SUITES = [AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM];

function rtp(seq: number, ssrc = 0x11223344, payload = 100): Buffer {
  const b = Buffer.alloc(12 + payload);
  writeFixedHeader(b, false, 96, seq, seq * 3000, ssrc);
  for (let i = 12; i < b.length; i++) b[i] = (seq + i) & 0xff;
  return b;
}
function rtcp(ssrc = 0x11223344): Buffer {
  const b = Buffer.alloc(28);
  b[0] = 0x80; b[1] = 200; b.writeUInt16BE(6, 2); b.writeUInt32BE(ssrc, 4);
  for (let i = 8; i < 28; i++) b[i] = i;
  return b;
}
/** Protects and returns a copy of the SRTP packet (or the drop code). */
function protect(tx: SrtpSender, p: Buffer): Buffer | number {
  const out = Buffer.alloc(p.length + 16);
  const n = tx.protectRtp(p, p.length, out);
  return n < 0 ? n : out.subarray(0, n);
}
function unprotect(rx: SrtpReceiver, p: Buffer): Buffer | number {
  const out = Buffer.alloc(p.length);
  const n = rx.unprotectRtp(p, p.length, out);
  return n < 0 ? n : out.subarray(0, n);
}

t.test('index estimation (RFC 3711 App. A): nearest to the highest index, across 65535 -> 0 both ways', async (t) => {
  t.equal(estimateIndex(65535, 0), 65536, 'wrap forward: ROC + 1');
  t.equal(estimateIndex(65536, 65535), 65535, 'late packet from before the wrap: ROC - 1');
  t.equal(estimateIndex(65536 * 5 + 10, 9), 65536 * 5 + 9);
  t.equal(estimateIndex(10, 65530), -6, 'before index 0: no index');
});

t.test('rtpClearHeaderLength counts CSRCs and the extension, refuses runts and version != 2', async (t) => {
  const p = Buffer.alloc(40);
  p[0] = 0x80 | 0x10 | 2; // X, CC = 2
  p.writeUInt16BE(2, 12 + 8 + 2); // 2 words of extension
  t.equal(rtpClearHeaderLength(p, 40), 12 + 8 + 4 + 8);
  t.equal(rtpClearHeaderLength(p, 31), -1);
  t.equal(rtpClearHeaderLength(Buffer.from([0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 12), -1);
});

for (const suite of SUITES) {
  t.test(`${suite.name}: ROC follows 65535 -> 0 on both sides, and a late pre-wrap packet still decrypts`, async (t) => {
    const tx = new SrtpSender(keyingOf(suite));
    const rx = new SrtpReceiver(keyingOf(suite));
    const seqs = [65533, 65534, 65535, 0, 1, 2];
    const prot = seqs.map((s) => protect(tx, rtp(s)) as Buffer);
    t.same(tx.exportState(), [{ ssrc: 0x11223344, roc: 1, lastSeq: 2, rtcpIndex: 0 }]);
    // Deliver with the pre-wrap 65535 late: after 0 and 1.
    for (const i of [0, 1, 3, 4, 2, 5]) t.same(unprotect(rx, prot[i]!), rtp(seqs[i]!), `seq ${seqs[i]}`);
    t.equal(rx.highestIndex(0x11223344), 65536 + 2);
    // A packet protected with ROC 1 differs from the same seq under ROC 0: the ROC is in the keystream.
    const tx0 = new SrtpSender(keyingOf(suite));
    t.not((protect(tx0, rtp(1)) as Buffer).toString('hex'), (prot[4] as Buffer).toString('hex'));
  });

  t.test(`${suite.name}: the sender refuses an index at or below the last one, and after import`, async (t) => {
    const tx = new SrtpSender(keyingOf(suite));
    t.type(protect(tx, rtp(100)), Buffer);
    t.equal(protect(tx, rtp(100)), SrtpDrop.INDEX_NOT_ABOVE, 'same seq (a resend)');
    t.equal(protect(tx, rtp(99)), SrtpDrop.INDEX_NOT_ABOVE, 'older seq');
    t.equal(protect(tx, rtp(100 + 32768)), SrtpDrop.INDEX_NOT_ABOVE, 'a jump of half the space reads as going back');
    t.type(protect(tx, rtp(101)), Buffer);
    t.type(protect(tx, rtp(0x1234, 0x55)), Buffer, 'another SSRC has its own index');
    const saved = tx.exportState();
    t.same(saved, [{ ssrc: 0x11223344, roc: 0, lastSeq: 101, rtcpIndex: 0 }, { ssrc: 0x55, roc: 0, lastSeq: 0x1234, rtcpIndex: 0 }]);

    // A restarted sender given the saved state refuses what the old one already used.
    const tx2 = new SrtpSender(keyingOf(suite));
    tx2.importState([{ ssrc: 0x11223344, roc: 3, lastSeq: 65535, rtcpIndex: 41 }]);
    t.equal(protect(tx2, rtp(65535)), SrtpDrop.INDEX_NOT_ABOVE);
    t.equal(protect(tx2, rtp(65000)), SrtpDrop.INDEX_NOT_ABOVE);
    const first = protect(tx2, rtp(0)) as Buffer; // seq after lastSeq: ROC 4
    t.same(tx2.exportState()[0], { ssrc: 0x11223344, roc: 4, lastSeq: 0, rtcpIndex: 41 });
    const out = Buffer.alloc(64);
    const n = tx2.protectRtcp(rtcp(), 28, out);
    t.equal(out.readUInt32BE(suite.name === 'AEAD_AES_128_GCM' ? n - 4 : n - 14), 0x80000000 + 42, 'SRTCP resumes at rtcpIndex + 1');
    // Importing a lower state never lowers the floor.
    tx2.importState([{ ssrc: 0x11223344, roc: 0, lastSeq: 5, rtcpIndex: 0 }]);
    t.equal(protect(tx2, rtp(0)), SrtpDrop.INDEX_NOT_ABOVE);
    // A receiver that knows ROC 4 (it saw the stream before) decrypts it; ROC 0 would not.
    const rx = new SrtpReceiver(keyingOf(suite));
    t.equal(unprotect(rx, first), SrtpDrop.AUTH_FAILED, 'a fresh receiver assumes ROC 0 (RFC 3711 §3.3.1)');
    t.throws(() => tx2.importState([{ ssrc: 1, roc: -1, lastSeq: 0, rtcpIndex: 0 }]), /state.roc/);
    t.throws(() => tx2.importState([{ ssrc: 1, roc: 0, lastSeq: 65536, rtcpIndex: 0 }]), /state.lastSeq/);
    t.throws(() => tx2.importState([{ ssrc: 1, roc: 0, lastSeq: 1, rtcpIndex: 2 ** 31 }]), /state.rtcpIndex/);
  });

  t.test(`${suite.name}: the index space ends: 2^48 - 1 is the last SRTP index, 2^31 - 1 the last SRTCP index`, async (t) => {
    const tx = new SrtpSender(keyingOf(suite));
    tx.importState([{ ssrc: 0x11223344, roc: 0xffffffff, lastSeq: 65534, rtcpIndex: 2 ** 31 - 2 }]);
    t.type(protect(tx, rtp(65535)), Buffer);
    t.equal(protect(tx, rtp(0)), SrtpDrop.INDEX_EXHAUSTED);
    const out = Buffer.alloc(64);
    t.ok(tx.protectRtcp(rtcp(), 28, out) > 0);
    t.equal(tx.protectRtcp(rtcp(), 28, out), SrtpDrop.INDEX_EXHAUSTED);
  });

  t.test(`${suite.name}: replayed and too-old packets are dropped; the window is 64 and moves only on authentic packets`, async (t) => {
    const tx = new SrtpSender(keyingOf(suite));
    const rx = new SrtpReceiver(keyingOf(suite));
    const prot = Array.from({ length: 200 }, (_, i) => protect(tx, rtp(1000 + i)) as Buffer);
    t.type(unprotect(rx, prot[0]!), Buffer);
    t.equal(unprotect(rx, prot[0]!), SrtpDrop.REPLAYED);
    t.type(unprotect(rx, prot[100]!), Buffer);
    t.equal(unprotect(rx, prot[36]!), SrtpDrop.TOO_OLD, '64 below the highest');
    t.type(unprotect(rx, prot[37]!), Buffer, '63 below the highest is still in the window');
    t.equal(unprotect(rx, prot[37]!), SrtpDrop.REPLAYED);
    // A forged packet far ahead does not move the window.
    const forged = Buffer.from(prot[199]!);
    forged[forged.length - 1] ^= 1;
    t.equal(unprotect(rx, forged), SrtpDrop.AUTH_FAILED);
    t.equal(rx.highestIndex(0x11223344), 1100);
    t.type(unprotect(rx, prot[99]!), Buffer);
    // RTCP has its own window.
    const c = Buffer.alloc(64);
    const n = tx.protectRtcp(rtcp(), 28, c);
    const cp = Buffer.from(c.subarray(0, n));
    const o = Buffer.alloc(64);
    t.equal(rx.unprotectRtcp(cp, n, o), 28);
    t.same(o.subarray(0, 28), rtcp());
    t.equal(rx.unprotectRtcp(cp, n, o), SrtpDrop.REPLAYED);
  });

  t.test(`${suite.name}: one bit flipped anywhere, a cut tag, truncation: dropped, never thrown`, async (t) => {
    const tx = new SrtpSender(keyingOf(suite));
    const good = protect(tx, rtp(7, 0x11223344, 40)) as Buffer;
    const codes = new Set<number>();
    for (let bit = 0; bit < good.length * 8; bit++) {
      const rx = new SrtpReceiver(keyingOf(suite));
      const p = Buffer.from(good);
      p[bit >> 3] ^= 0x80 >> (bit & 7);
      const r = unprotect(rx, p);
      t.ok(typeof r === 'number' && r < 0, `bit ${bit}`) || t.fail(`bit ${bit} accepted`);
      codes.add(r as number);
    }
    t.same([...codes].sort(), [SrtpDrop.TOO_SHORT, SrtpDrop.AUTH_FAILED].sort(), 'auth failure, or not version 2 / header past the end');
    for (let cut = 1; cut <= good.length; cut++) {
      const rx = new SrtpReceiver(keyingOf(suite));
      const r = rx.unprotectRtp(good, good.length - cut, Buffer.alloc(good.length));
      if (r >= 0) t.fail(`cut ${cut} accepted`);
    }
    t.pass('every truncation dropped');
    const rx = new SrtpReceiver(keyingOf(suite));
    t.same(unprotect(rx, good), rtp(7, 0x11223344, 40), 'the untouched packet still passes');
  });

  t.test(`${suite.name}: a new SSRC starts a context only when authentic, up to the bound`, async (t) => {
    const tx = new SrtpSender(keyingOf(suite), { maxStreams: 8 });
    const rx = new SrtpReceiver(keyingOf(suite), { maxStreams: 3 });
    const forged = Buffer.from(protect(tx, rtp(1, 0x99)) as Buffer);
    forged[20] ^= 4;
    t.equal(unprotect(rx, forged), SrtpDrop.AUTH_FAILED);
    t.equal(rx.streamCount, 0, 'a forged SSRC takes no context');
    for (const ssrc of [1, 2, 3]) t.type(unprotect(rx, protect(tx, rtp(5, ssrc)) as Buffer), Buffer);
    t.equal(unprotect(rx, protect(tx, rtp(5, 4)) as Buffer), SrtpDrop.CONTEXTS_FULL);
    t.type(unprotect(rx, protect(tx, rtp(6, 2)) as Buffer), Buffer, 'known SSRCs still pass');
    t.equal(rx.streamCount, 3);
    const txSmall = new SrtpSender(keyingOf(suite), { maxStreams: 1 });
    t.type(protect(txSmall, rtp(1, 1)), Buffer);
    t.equal(protect(txSmall, rtp(1, 2)), SrtpDrop.CONTEXTS_FULL);
  });
}

t.test('seeded random garbage never throws (both suites, RTP and RTCP)', async (t) => {
  let x = 0x2545f491;
  const rnd = () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) / 2 ** 32; };
  let accepted = 0;
  for (const suite of SUITES) {
    const rx = new SrtpReceiver(keyingOf(suite));
    const out = Buffer.alloc(2000);
    for (let i = 0; i < 3000; i++) {
      const len = Math.floor(rnd() * 300);
      const p = Buffer.alloc(len);
      for (let k = 0; k < len; k++) p[k] = rnd() * 256;
      if (len > 0 && rnd() < 0.7) p[0] = (p[0]! & 0x3f) | 0x80; // mostly version 2, to reach the crypto
      if (rx.unprotectRtp(p, len, out) >= 0) accepted++;
      if (rx.unprotectRtcp(p, len, out) >= 0) accepted++;
      if (rx.unprotectRtp(p, len + 5, out) >= 0) accepted++; // a length past the buffer
    }
  }
  t.equal(accepted, 0);
});

t.test('ReplayWindow: 64 slots, exact edges', async (t) => {
  const w = new ReplayWindow();
  t.equal(w.check(0), 0);
  w.accept(0);
  t.equal(w.check(0), SrtpDrop.REPLAYED);
  w.accept(2 ** 40);
  t.equal(w.check(2 ** 40 - 63), 0);
  t.equal(w.check(2 ** 40 - 64), SrtpDrop.TOO_OLD);
  w.accept(2 ** 40 - 63);
  t.equal(w.check(2 ** 40 - 63), SrtpDrop.REPLAYED);
  t.equal(w.check(2 ** 40 + 1), 0);
});

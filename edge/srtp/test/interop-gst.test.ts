/**
 * Interop with GStreamer's srtpenc/srtpdec (libsrtp 2.5) as the oracle, both suites, bit-exact
 * (shared reference rtp-resilience.md): packets travel through RFC 4571-framed files
 * (rtpstreampay/rtpstreamdepay), as test-rig/rtp/gst-peers.ts does for RTP.
 * - ours -> srtpdec: what it decrypts equals the plain packets;
 * - srtpenc -> ours: its output for the same key and plain packets equals ours byte for byte,
 *   and our receiver decrypts it.
 * The RTP run starts at sequence 65520, so the ROC goes 0 -> 1 on both implementations.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frameRtpStream, GstPeer, unframeRtpStream } from '../../../test-rig/rtp/gst-peers.js';
import { writeFixedHeader } from '../../rtp/header.js';
import { SrtpReceiver, SrtpSender } from '../context.js';
import { generateKeying } from '../sdes.js';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80, type SrtpKeying, type SrtpSuite } from '../suites.js';

const dir = mkdtempSync(join(tmpdir(), 'orbox-srtp-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const SSRC = 0xcafebabe;

const plainRtp = Array.from({ length: 40 }, (_, i) => {
  const b = Buffer.alloc(12 + 200 + i * 25);
  writeFixedHeader(b, i % 8 === 7, 96, (65520 + i) & 0xffff, i * 3000, SSRC);
  for (let k = 12; k < b.length; k++) b[k] = (i * 13 + k) & 0xff;
  return b;
});
const plainRtcp = Array.from({ length: 5 }, (_, i) => {
  const b = Buffer.alloc(28);
  b[0] = 0x80; b[1] = 200; b.writeUInt16BE(6, 2); b.writeUInt32BE(SSRC, 4); b.fill(i + 1, 8);
  return b;
});


async function gst(args: string[]): Promise<void> {
  const r = await new GstPeer(args).done(20_000);
  if (r.exitCode !== 0) throw new Error(`gst-launch exited ${r.exitCode}: ${r.stderrTail}`);
}

const keyHex = (k: SrtpKeying) => Buffer.concat([k.masterKey, k.masterSalt]).toString('hex');
const srtpCaps = (kind: 'srtp' | 'srtcp', k: SrtpKeying) =>
  `application/x-${kind}-stream,ssrc=(uint)${SSRC},srtp-key=(buffer)${keyHex(k)},` +
  `srtp-cipher=(string)${k.suite.gstCipher},srtp-auth=(string)${k.suite.gstAuth},` +
  `srtcp-cipher=(string)${k.suite.gstCipher},srtcp-auth=(string)${k.suite.gstAuth}`;
const encProps = (k: SrtpKeying) => [`key=${keyHex(k)}`, `rtp-cipher=${k.suite.gstCipher}`, `rtp-auth=${k.suite.gstAuth}`,
  `rtcp-cipher=${k.suite.gstCipher}`, `rtcp-auth=${k.suite.gstAuth}`];

for (const suite of [AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM] as SrtpSuite[]) {
  const keying = generateKeying(suite);
  const ours = () => {
    const tx = new SrtpSender(keying);
    const prot = (p: Buffer, rtcp: boolean) => {
      const out = Buffer.alloc(p.length + suite.rtcpOverhead);
      const n = rtcp ? tx.protectRtcp(p, p.length, out) : tx.protectRtp(p, p.length, out);
      if (n < 0) throw new Error(`protect refused: ${n}`);
      return out.subarray(0, n);
    };
    return { rtp: plainRtp.map((p) => prot(p, false)), rtcp: plainRtcp.map((p) => prot(p, true)) };
  };

  t.test(`${suite.name}: srtpdec decrypts our SRTP and SRTCP into the plain packets`, async (t) => {
    const mine = ours();
    const f = (n: string) => join(dir, `${suite.name}-${n}`);
    writeFileSync(f('ours.srtp'), frameRtpStream(mine.rtp));
    writeFileSync(f('ours.srtcp'), frameRtpStream(mine.rtcp));
    await gst(['filesrc', `location=${f('ours.srtp')}`, '!', srtpCaps('srtp', keying), '!', 'rtpstreamdepay', '!',
      'srtpdec', '!', 'rtpstreampay', '!', 'filesink', `location=${f('dec.rtp')}`]);
    await gst(['filesrc', `location=${f('ours.srtcp')}`, '!', srtpCaps('srtcp', keying), '!', 'rtpstreamdepay', '!',
      'd.rtcp_sink', 'srtpdec', 'name=d', 'd.rtcp_src', '!', 'rtpstreampay', '!', 'filesink', `location=${f('dec.rtcp')}`]);
    t.same(unframeRtpStream(readFileSync(f('dec.rtp'))), plainRtp, 'all 40 RTP packets, across the ROC step');
    t.same(unframeRtpStream(readFileSync(f('dec.rtcp'))), plainRtcp, 'all 5 RTCP packets');
  });

  t.test(`${suite.name}: srtpenc's output equals ours byte for byte, and our receiver decrypts it`, async (t) => {
    const f = (n: string) => join(dir, `${suite.name}-${n}`);
    writeFileSync(f('plain.rtp'), frameRtpStream(plainRtp));
    writeFileSync(f('plain.rtcp'), frameRtpStream(plainRtcp));
    await gst(['filesrc', `location=${f('plain.rtp')}`, '!', 'application/x-rtp-stream', '!', 'rtpstreamdepay', '!',
      'srtpenc', ...encProps(keying), '!', 'rtpstreampay', '!', 'filesink', `location=${f('enc.srtp')}`]);
    await gst(['filesrc', `location=${f('plain.rtcp')}`, '!', 'application/x-rtcp-stream', '!', 'rtpstreamdepay', '!',
      'e.rtcp_sink_0', 'srtpenc', 'name=e', ...encProps(keying), 'e.rtcp_src_0', '!', 'rtpstreampay', '!', 'filesink', `location=${f('enc.srtcp')}`]);
    const theirs = { rtp: unframeRtpStream(readFileSync(f('enc.srtp'))), rtcp: unframeRtpStream(readFileSync(f('enc.srtcp'))) };
    const mine = ours();
    t.equal(theirs.rtp.length, 40);
    t.same(theirs.rtp.map((b) => b.toString('hex')), mine.rtp.map((b) => b.toString('hex')), 'SRTP bit-exact');
    t.same(theirs.rtcp.map((b) => b.toString('hex')), mine.rtcp.map((b) => b.toString('hex')), 'SRTCP bit-exact (indexes 1..5)');
    const rx = new SrtpReceiver(keying);
    const out = Buffer.alloc(2000);
    t.same(theirs.rtp.map((p) => Buffer.from(out.subarray(0, rx.unprotectRtp(p, p.length, out)))), plainRtp);
    t.same(theirs.rtcp.map((p) => Buffer.from(out.subarray(0, rx.unprotectRtcp(p, p.length, out)))), plainRtcp);
  });
}

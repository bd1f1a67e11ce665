/**
 * Interop with GStreamer as the oracle (RFC 6184 has no official vectors, see
 * shared reference rtp-resilience.md): our packets must be depayloaded by rtph264depay into
 * exactly the NAL units that went in, and decoded by avdec_h264 without a complaint.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { H264Packetizer } from '../h264-packetizer.js';
import { NalSpans, splitAnnexB } from '../annexb.js';
import { nalType, NAL_AUD, NAL_SPS, NAL_PPS } from '../h264.js';
import { encodeTestStream, readAccessUnits, type AccessUnit } from '../../../test-rig/rtp/h264-source.js';
import {
  frameRtpStream, rtpStreamFileDecoder, rtpStreamFileToAnnexB, udpH264Receiver, freeUdpPortPair, sleep,
} from '../../../test-rig/rtp/gst-peers.js';

const dir = mkdtempSync(join(tmpdir(), 'orbox-rtp-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const FRAMES = 90;
let aus: AccessUnit[] = [];

t.before(async () => {
  await encodeTestStream(join(dir, 'in.h264'), { frames: FRAMES, width: 640, height: 360, keyIntMax: 30 });
  aus = readAccessUnits(join(dir, 'in.h264'));
});

function packetizeAll(p: H264Packetizer, withoutParamSets: boolean): Buffer[] {
  const out: Buffer[] = [];
  aus.forEach((au, i) => {
    // Strip in-band SPS/PPS when asked: the packetiser must insert them from its cache.
    const data = withoutParamSets
      ? Buffer.concat(au.nals.filter((n) => ![NAL_SPS, NAL_PPS].includes(nalType(n[0]))).flatMap((n) => [Buffer.from([0, 0, 0, 1]), n]))
      : au.data;
    const b = p.packetize(data, BigInt(i) * 33_333_333n, au.keyframe);
    for (let k = 0; k < b.count; k++) out.push(Buffer.from(b.packets[k].subarray(0, b.lengths[k])));
  });
  return out;
}

const hexNals = (buf: Buffer): string[] => {
  const s = new NalSpans();
  splitAnnexB(buf, s);
  const r: string[] = [];
  for (let i = 0; i < s.count; i++) r.push(buf.subarray(s.offsets[i], s.offsets[i] + s.lengths[i]).toString('hex'));
  return r;
};

t.test('rtph264depay returns exactly our NAL units (MTU 1400 and 300); avdec_h264 decodes every frame', async (t) => {
  t.equal(aus.length, FRAMES, 'the test stream splits into one AU per frame');
  const expected = aus.flatMap((a) => a.nals.filter((n) => nalType(n[0]) !== NAL_AUD).map((n) => n.toString('hex')));
  for (const mtu of [1400, 300]) {
    const packets = packetizeAll(new H264Packetizer({ mtu }), false);
    const rtps = join(dir, `out-${mtu}.rtps`);
    writeFileSync(rtps, frameRtpStream(packets));
    const dep = await rtpStreamFileToAnnexB(rtps, join(dir, `out-${mtu}.h264`)).done();
    t.equal(dep.exitCode, 0, `depay exit (mtu ${mtu})`);
    const got = hexNals(readFileSync(join(dir, `out-${mtu}.h264`)));
    // rtph264depay may repeat SPS/PPS (from caps) before keyframes: compare without AUDs.
    t.same(got.filter((h) => nalType(parseInt(h.slice(0, 2), 16)) !== NAL_AUD), expected, `NAL units byte-identical (mtu ${mtu})`);
    const dec = await rtpStreamFileDecoder(rtps).done();
    t.equal(dec.frames, FRAMES, `decoded frames (mtu ${mtu})`);
    t.same(dec.complaints, [], 'no decoder or depayloader complaint');
  }
});

t.test('SPS/PPS from the out-of-band cache make a stream without in-band parameter sets decodable', async (t) => {
  const first = aus[0];
  const sps = first.nals.find((n) => nalType(n[0]) === NAL_SPS)!;
  const pps = first.nals.find((n) => nalType(n[0]) === NAL_PPS)!;
  const p = new H264Packetizer({ sps, pps });
  const packets = packetizeAll(p, true);
  const rtps = join(dir, 'oob.rtps');
  writeFileSync(rtps, frameRtpStream(packets));
  const dec = await rtpStreamFileDecoder(rtps).done();
  t.equal(dec.frames, FRAMES);
  t.same(dec.complaints, []);
});

t.test('live UDP to a GStreamer receiver: every frame decoded, no complaint', async (t) => {
  const port = await freeUdpPortPair();
  const rx = udpH264Receiver(port);
  await rx.ready();
  await sleep(300); // udpsrc binds during the state change; give it a moment
  const sock = createSocket('udp4');
  const p = new H264Packetizer({});
  try {
    for (let i = 0; i < aus.length; i++) {
      const b = p.packetize(aus[i].data, BigInt(i) * 33_333_333n, aus[i].keyframe);
      for (let k = 0; k < b.count; k++) sock.send(b.packets[k], 0, b.lengths[k], port, '127.0.0.1');
      await sleep(5); // paced, not real time: loopback does not need 33 ms
    }
    await rx.waitFrames(FRAMES - 1, 15_000).catch(() => undefined);
  } finally {
    sock.close();
  }
  const res = await rx.stop();
  // avdec_h264 holds the last frame until EOS: all FRAMES come out after stop().
  t.equal(res.frames, FRAMES, 'decoded frames');
  t.same(res.complaints, []);
});

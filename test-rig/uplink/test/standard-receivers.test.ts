/**
 * The uplink end to end with standard receivers: a real box (supervisor and its nine workers)
 * pushing one channel to a receiver on this host over SRTP with RTX and SMPTE 2022-1 FEC; the
 * SDP comes from the box's local API alone (what `orbox uplink sdp` prints). ffmpeg plays from
 * the SDP file; GStreamer plays with the README's pipeline (srtpdec on each port,
 * rtpst2022-1-fecdec, rtpjitterbuffer) keyed from the same SDP.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { callLocalApi } from '../../../edge/control/local-api.js';
import { Supervisor } from '../../../edge/supervisor/supervisor.js';
import { GstPeer, freeTcpPort } from '../../rtp/gst-peers.js';
import { videoConfig } from '../../video/helpers.js';

/** An even UDP port base with a free-looking block of 10 (random to keep parallel runs apart). */
const portBase = () => 40_000 + 20 * Math.floor(Math.random() * 1000);

/** Runs ffmpeg on an SDP until it decoded `frames` frames; returns what it printed. */
function ffmpegPlays(sdpFile: string, frames: number, timeoutMs: number): Promise<{ code: number | null; frames: number; log: string }> {
  return new Promise((resolve) => {
    const p = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-protocol_whitelist', 'file,udp,rtp', '-i', sdpFile, '-frames:v', String(frames), '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr.on('data', (d) => { log += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      const m = [...log.matchAll(/frame=\s*(\d+)/g)].pop();
      resolve({ code, frames: m ? Number(m[1]) : 0, log });
    });
  });
}

/** The README's GStreamer receiver, keys from the SDP's a=crypto lines (video, column FEC, row FEC). */
function gstReceiver(sdp: string, port: number): GstPeer {
  const keys = [...sdp.matchAll(/a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:(\S+)/g)].map((m) => Buffer.from(m[1]!, 'base64').toString('hex'));
  const sc = 'srtp-cipher=(string)aes-128-icm,srtp-auth=(string)hmac-sha1-80,srtcp-cipher=(string)aes-128-icm,srtcp-auth=(string)hmac-sha1-80';
  return new GstPeer([
    'rtpst2022-1-fecdec', 'name=f', '!', 'rtpjitterbuffer', 'latency=200', '!', 'rtph264depay', '!', 'avdec_h264', '!', 'fakesink', 'silent=false', 'sync=false',
    'udpsrc', `port=${port}`, `caps=application/x-srtp,media=(string)video,clock-rate=(int)90000,encoding-name=(string)H264,payload=(int)96,ssrc=(uint)0,srtp-key=(buffer)${keys[0]},${sc}`, '!', 'srtpdec', '!', 'f.sink',
    'udpsrc', `port=${port + 2}`, `caps=application/x-srtp,ssrc=(uint)0,srtp-key=(buffer)${keys[1]},${sc}`, '!', 'srtpdec', '!', 'f.fec_0',
    'udpsrc', `port=${port + 4}`, `caps=application/x-srtp,ssrc=(uint)0,srtp-key=(buffer)${keys[2]},${sc}`, '!', 'srtpdec', '!', 'f.fec_1',
  ]);
}

t.test('ffmpeg plays the box\'s SRTP uplink from the SDP the box gives, GStreamer with the README\'s pipeline; each SDP starts a new session', async (t) => {
  const rx = portBase();
  const cfg = videoConfig(await freeTcpPort(), [{ name: 'endoscope', width: 640, height: 360 }], {
    uplink: { portStart: portBase(), receivers: [{ name: 'lab', host: '127.0.0.1', port: rx, channels: ['endoscope'], fec: { rowFec: true } }] },
  });
  const sup = new Supervisor(cfg);
  t.teardown(() => sup.stop());
  await sup.start();
  const first = (await callLocalApi(cfg.api.socket, 'uplinkSdp', { receiver: 'lab' }, 15_000)) as { sdp: string };
  const second = (await callLocalApi(cfg.api.socket, 'uplinkSdp', { receiver: 'lab' }, 15_000)) as { sdp: string };
  const keyOf = (sdp: string) => /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:(\S+)/.exec(sdp)?.[1];
  t.ok(keyOf(first.sdp) && keyOf(second.sdp) && keyOf(first.sdp) !== keyOf(second.sdp), 'each SDP carries new keys');
  const current = (await callLocalApi(cfg.api.socket, 'uplinkSdp', { receiver: 'lab', current: true }, 15_000)) as { sdp: string };
  t.equal(keyOf(current.sdp), keyOf(second.sdp), '--current leaves them');
  const file = join(cfg.box.dataDir, 'lab.sdp');
  writeFileSync(file, current.sdp);
  const r = await ffmpegPlays(file, 90, 30_000);
  t.equal(r.frames, 90, `ffmpeg decoded ${r.frames} frames from the SDP alone`);
  t.equal(r.code, 0, 'and exited cleanly');
  t.notMatch(r.log, /srtp|auth|HMAC/i, 'no SRTP complaint from ffmpeg');
  const gst = gstReceiver(current.sdp, rx);
  try {
    await gst.waitFrames(60, 20_000);
    t.pass(`GStreamer decoded ${gst.frameCount} frames`);
  } finally {
    const g = await gst.stop();
    // Timing notes are not damage: the jitterbuffer's skew resets come from the packets udpsrc
    // queued before the pipeline played (a burst at start), and rtpst2022-1-fecdec pushes a
    // packet it rebuilt before a late original (FEC on its own port can overtake the media),
    // which the jitterbuffer and the decoder note as timestamps going back.
    const timing = /rtpjitterbuffer.*(calculate_skew|calculate_pts)|videodecoder.*decreasing timestamp/;
    t.same(g.complaints.filter((c) => !timing.test(c)), [], 'no srtpdec, FEC decoder, depayloader or decoder error');
  }
  const st = (await callLocalApi(cfg.api.socket, 'status', {}, 15_000)) as { video: { uplink: { receiver: string; sending: string; packets: number; srtp: boolean }[] } };
  const u = st.video.uplink.find((x) => x.receiver === 'lab');
  t.ok(u && u.packets > 0 && u.srtp, `status shows the pair: ${JSON.stringify(u && { sending: u.sending, packets: u.packets })}`);
});

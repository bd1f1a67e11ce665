/**
 * Never a keystream twice: a real box streams one channel over SRTP (media, RTX, both FEC
 * streams, the channel's audio and its RTX, SRTCP) to a capture on this host; net-send is killed mid-stream (fault injection)
 * and the guard restarts it. Every datagram is authenticated with the SDP's keys by an SRTP
 * receiver that kept its state, and every (key, SSRC, index) is recorded: none may repeat,
 * before or after the restart, and the receiver must go on decrypting without a new SDP.
 */
import t from 'tap';
import { createSocket, type Socket } from 'node:dgram';
import { callLocalApi } from '../../../edge/control/local-api.js';
import { keyingOf } from '../../../edge/net/uplink/index.js';
import { SrtpReceiver, estimateIndex } from '../../../edge/srtp/index.js';
import { Supervisor } from '../../../edge/supervisor/supervisor.js';
import { freeTcpPort } from '../../rtp/gst-peers.js';
import { sleep, videoConfig } from '../../video/helpers.js';

const portBase = () => 40_000 + 20 * Math.floor(Math.random() * 1000);

t.test('net-send killed and restarted mid-stream: no (SSRC, SRTP index) repeats on any port, and the stream still decrypts', async (t) => {
  const rx = portBase();
  const cfg = videoConfig(await freeTcpPort(), [{ name: 'endoscope', width: 640, height: 360, audio: 'room-mic' }], {
    audio: { inputs: [{ name: 'room-mic', device: 'test-tone', rate: 48000, channels: 1 }] },
    uplink: { portStart: portBase(), receivers: [{ name: 'expert', host: '127.0.0.1', port: rx, channels: ['endoscope'], stream: 'hq', fec: { rowFec: true } }] },
    debug: { faultInjection: true },
  });
  const sup = new Supervisor(cfg);
  t.teardown(() => sup.stop());
  await sup.start();
  const { sdp } = (await callLocalApi(cfg.api.socket, 'uplinkSdp', { receiver: 'expert' }, 15_000)) as { sdp: string };
  const keys = [...sdp.matchAll(/a=crypto:1 (\S+) inline:(\S+)/g)].map((m) => keyingOf(m[1]!, m[2]!));
  t.equal(keys.length, 4, 'video, column FEC, row FEC and audio keys');

  const seen = new Set<string>();
  let repeats = 0, accepted = 0, rejected = 0, phase = 0;
  const perPhase = [0, 0];
  const audioPerPhase = [0, 0];
  const last = new Map<string, number>();
  // Media RTP timestamps against arrival, per phase: the timeline must go on across the restart.
  const timeline: [number, number, number][] = [];
  const out = new Uint8Array(2048);
  const sockets: Socket[] = [];
  // Ports: RTP + RTX (key 0), the box's SRTCP arrives on RTCP (key 0), FEC columns (key 1), FEC rows (key 2).
  // Audio RTP + its RTX (key 3), its SRTCP (key 3).
  for (const [off, k] of [[0, 0], [1, 0], [2, 1], [4, 2], [6, 3], [7, 3]] as const) {
    const recv = new SrtpReceiver(keys[k]!, { maxStreams: 8 });
    const s = createSocket('udp4');
    s.on('message', (msg) => {
      const rtcp = msg.length >= 2 && msg[1]! >= 200 && msg[1]! <= 206;
      const n = rtcp ? recv.unprotectRtcp(msg, msg.length, out) : recv.unprotectRtp(msg, msg.length, out);
      if (n < 0) { rejected++; return; }
      accepted++;
      perPhase[phase]!++;
      if (k === 3 && !rtcp) audioPerPhase[phase]!++;
      const ssrc = msg.readUInt32BE(rtcp ? 4 : 8);
      let index: number;
      if (rtcp) index = msg.readUInt32BE(msg.length - 14) & 0x7fffffff; // E|index before the 80-bit tag
      else {
        if (k === 0 && (msg[1]! & 0x7f) === 96) timeline.push([phase, performance.now(), msg.readUInt32BE(4)]);
        const id = `${k}/${ssrc}`;
        const seq = msg.readUInt16BE(2);
        index = last.has(id) ? estimateIndex(last.get(id)!, seq) : seq;
        last.set(id, Math.max(index, last.get(id) ?? -1));
      }
      const key = `${k}/${rtcp ? 'rtcp' : 'rtp'}/${ssrc}/${index}`;
      if (seen.has(key)) repeats++;
      seen.add(key);
    });
    await new Promise<void>((r) => s.bind(rx + off, '127.0.0.1', () => r()));
    sockets.push(s);
  }
  t.teardown(() => { for (const s of sockets) s.close(); });
  // The capture answers nothing, so the box's RTCP port sends SRs to us (its feedback target is the receiver's RTCP port).
  await sleep(4000);
  t.ok(perPhase[0]! > 100, `${perPhase[0]} packets before the restart`);
  await callLocalApi(cfg.api.socket, 'fault', { worker: 'net-send', mode: 'exit' }, 15_000);
  phase = 1;
  const until = Date.now() + 20_000;
  while (perPhase[1]! < 200 && Date.now() < until) await sleep(200);
  t.ok(perPhase[1]! >= 200, `${perPhase[1]} packets after the restart, decrypted by the receiver that kept its state`);
  t.ok(audioPerPhase[0]! > 50 && audioPerPhase[1]! > 0, `audio packets before (${audioPerPhase[0]}) and after (${audioPerPhase[1]}) the restart`);
  t.equal(repeats, 0, `no (key, SSRC, index) repeated among ${seen.size}`);
  t.equal(rejected, 0, `nothing failed authentication or replay (${accepted} accepted)`);
  const before = timeline.filter((x) => x[0] === 0).pop()!, after = timeline.find((x) => x[0] === 1)!;
  const expected = before[2] + Math.round((after[1] - before[1]) * 90);
  const off = ((after[2] - expected) | 0) / 90;
  t.ok(Math.abs(off) < 300, `the RTP timeline goes on across the restart (${off.toFixed(0)} ms from the wall-clock expectation)`);
  const rtcpSeen = [...seen].filter((k) => k.includes('/rtcp/')).length;
  t.ok(rtcpSeen >= 2, `${rtcpSeen} SRTCP indexes, none repeated`);
});

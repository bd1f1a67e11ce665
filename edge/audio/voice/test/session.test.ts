/**
 * A talk session against a real "remote expert": GStreamer peers (srtpenc/srtpdec = libsrtp,
 * opusenc/opusdec) on loopback UDP, the session code as duplex-voice runs it, the room mic a
 * tone written into a pcm ring on the box clock, the speaker a WAV file (`file:` output; ALSA is
 * exercised on hardware only).
 * - the expert's 440 Hz tone is in the speaker WAV at 440 Hz; the room's 1 kHz tone reaches
 *   the expert at 1 kHz; the jitter buffer counts packets and loss;
 * - mute: nothing goes to the expert while muted;
 * - packets from another host, or under another key, are dropped and counted.
 */
import t from 'tap';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TalkSession, buildVoiceAnswer, parseVoiceAnswer } from '../index.js';
import { AES_CM_128_HMAC_SHA1_80, generateKeying } from '../../../srtp/index.js';
import { RingConsumer, RingProducer, createRing } from '../../../lib/ring/index.js';
import { expertReceiver, expertSender, micStandIn, testPorts } from '../../../../test-rig/audio/voice-peer.js';
import { zeroCrossingHz } from '../../../../test-rig/audio/opus-peer.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function readWav(path: string): Int16Array {
  const b = readFileSync(path);
  return new Int16Array(b.buffer.slice(b.byteOffset + 44, b.byteOffset + b.length));
}
function rms(x: Int16Array, from: number, to: number): number {
  let e = 0; for (let i = from; i < to; i++) e += x[i] * x[i];
  return Math.sqrt(e / Math.max(1, to - from));
}

t.test('the expert hears the room and the room hears the expert (SRTP Opus both ways, GStreamer peer)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-talk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const [boxPort, expertPort] = testPorts(2);
  const boxKey = generateKeying(AES_CM_128_HMAC_SHA1_80);
  const expertKey = generateKeying(AES_CM_128_HMAC_SHA1_80);
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(boxPort, '127.0.0.1', r));
  const sab = createRing(1 << 18, 1);
  const mic = new RingConsumer(sab, 0, 'live');
  const stopMic = micStandIn(new RingProducer(sab), (i) => 6000 * Math.sin((2 * Math.PI * 1000 * i) / 48000));
  const session = new TalkSession({
    peer: 'expert', answer: parseVoiceAnswer(buildVoiceAnswer('127.0.0.1', expertPort, expertKey)), localKeying: boxKey, socket, mic,
    output: { kind: 'file', path: join(dir, 'speaker.wav') },
  });
  const ear = expertReceiver({ port: expertPort, keying: boxKey, ssrc: session.ssrc, outPath: join(dir, 'expert.pcm') });
  await ear.ready();
  session.start();
  const mouth = expertSender({ hz: 440, keying: expertKey, host: '127.0.0.1', port: boxPort, bindPort: expertPort + 1 });
  await sleep(3000);
  session.mute(true);
  await sleep(200);
  const mutedAt = session.stats().tx.packets;
  await sleep(500);
  const s = session.stats();
  t.equal(s.tx.packets, mutedAt, 'muted: no packet went to the expert');
  t.ok(s.tx.mutedPackets >= 20, `${s.tx.mutedPackets} packets held back while muted`);
  session.mute(false);
  await sleep(500);
  await mouth.stop();
  await session.close();
  await session.close();
  await ear.stop();
  stopMic();
  const st = session.stats();
  t.ok(st.rx.packets >= 150 && st.rx.played >= 150, `expert stream: ${st.rx.packets} packets in, ${st.rx.played} played, ${st.rx.lost} lost, jitter ${st.rx.jitterMs} ms`);
  t.ok(st.rx.lost <= 10, `at most 10 of ~200 lost on a loaded loopback (${st.rx.lost})`);
  t.equal(st.rx.srtpDropped, 0, 'every SRTP packet authenticated');
  t.ok(st.tx.packets >= 150, `${st.tx.packets} packets to the expert`);

  const spk = readWav(join(dir, 'speaker.wav'));
  t.ok(spk.length >= 48000 * 3, `speaker WAV holds ${(spk.length / 48000).toFixed(2)} s`);
  const mid = Math.floor(spk.length / 2);
  const hzSpk = zeroCrossingHz(spk, 48000, mid - 48000, mid + 24000);
  t.ok(Math.abs(hzSpk - 440) < 3, `speaker plays the expert's tone at ${hzSpk.toFixed(1)} Hz (440)`);
  t.ok(rms(spk, mid - 48000, mid) > 3000, `speaker level RMS ${rms(spk, mid - 48000, mid).toFixed(0)}`);

  t.ok(statSync(join(dir, 'expert.pcm')).size > 48000 * 2 * 2, 'the expert decoded more than 2 s');
  const b = readFileSync(join(dir, 'expert.pcm'));
  const ear16 = new Int16Array(b.buffer.slice(b.byteOffset, b.byteOffset + (b.length & ~1)));
  const hzEar = zeroCrossingHz(ear16, 48000, 24000, 24000 + 48000);
  t.ok(Math.abs(hzEar - 1000) < 5, `the expert hears the room's tone at ${hzEar.toFixed(1)} Hz (1000)`);
});

t.test('packets from another host or under another key are dropped and counted', async (t) => {
  const [boxPort, expertPort] = testPorts(2);
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(boxPort, '127.0.0.1', r));
  const session = new TalkSession({
    peer: 'x', answer: parseVoiceAnswer(buildVoiceAnswer('127.0.0.1', expertPort, generateKeying(AES_CM_128_HMAC_SHA1_80))),
    localKeying: generateKeying(AES_CM_128_HMAC_SHA1_80), socket, output: { kind: 'none' },
  });
  session.start();
  const wrongKey = expertSender({ hz: 440, keying: generateKeying(AES_CM_128_HMAC_SHA1_80), host: '127.0.0.1', port: boxPort, bindPort: expertPort + 1 });
  await sleep(800);
  await wrongKey.stop();
  const s = session.stats();
  await session.close();
  t.ok(s.rx.srtpDropped >= 20, `${s.rx.srtpDropped} packets under another key dropped`);
  t.equal(s.rx.packets, 0, 'none of them played');
});

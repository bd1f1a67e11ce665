/**
 * The room's talk service: one session at a time, clear refusals, the "expert listening" lamp
 * (a file standing in for a GPIO value file), and the offer SDP a peer can answer.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VoiceService, buildVoiceAnswer, parseVoiceAnswer } from '../index.js';
import { AES_CM_128_HMAC_SHA1_80, generateKeying } from '../../../srtp/index.js';
import { VOICE_DEFAULTS } from '../../../config/voice.js';
import { testPorts } from '../../../../test-rig/audio/voice-peer.js';

t.test('offer, start, a second caller refused, mute drives the lamp, stop', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-voice-svc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lamp = join(dir, 'lamp');
  const [port, peerPort] = testPorts(2);
  const svc = new VoiceService({ boxId: 'or-7', room: 'OR 7', voice: { ...VOICE_DEFAULTS, port, listeningOutput: lamp }, output: 'none' });
  t.equal(readFileSync(lamp, 'utf8'), '0\n', 'lamp off at start');
  await t.rejects(svc.start(buildVoiceAnswer('127.0.0.1', peerPort, generateKeying(AES_CM_128_HMAC_SHA1_80))), /no offer to answer: run `orbox voice sdp <peer>` first/);
  const { sdp } = await svc.offer('dr-lee');
  t.match(sdp, new RegExp(`m=audio ${port} RTP/SAVP 97`));
  t.match(sdp, /a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:[A-Za-z0-9+/=]{40}/);
  t.match(sdp, /a=sendrecv/);
  // The offer parses as an answer would (same shape both ways): a peer can read it.
  t.equal(parseVoiceAnswer(sdp).port, port);
  t.equal(svc.status().state, 'offered');
  await svc.start(buildVoiceAnswer('127.0.0.1', peerPort, generateKeying(AES_CM_128_HMAC_SHA1_80)));
  t.same({ state: svc.status().state, peer: svc.status().peer, listening: svc.status().listening }, { state: 'talking', peer: 'dr-lee', listening: true });
  t.equal(readFileSync(lamp, 'utf8'), '1\n', 'lamp on: the expert hears the room');
  await t.rejects(svc.offer('dr-other'), /a talk session with dr-lee is running/);
  await t.rejects(svc.start(buildVoiceAnswer('127.0.0.1', peerPort + 10, generateKeying(AES_CM_128_HMAC_SHA1_80))), /one at a time per room/);
  svc.mute(true);
  t.equal(readFileSync(lamp, 'utf8'), '0\n', 'muted: lamp off');
  t.equal(svc.status().listening, false);
  svc.mute(false);
  t.equal(readFileSync(lamp, 'utf8'), '1\n');
  await svc.stop();
  await svc.stop();
  t.equal(svc.status().state, 'idle');
  t.equal(readFileSync(lamp, 'utf8'), '0\n', 'stopped: lamp off');
  t.throws(() => svc.mute(true), /no talk session is running/);
  // The port is free again: a new offer binds it.
  await svc.offer('dr-lee');
  await svc.close();
  await svc.close();
});

t.test('an answer that cannot be used is refused with what is wrong', async (t) => {
  const k = generateKeying(AES_CM_128_HMAC_SHA1_80);
  const good = buildVoiceAnswer('127.0.0.1', 5000, k);
  t.throws(() => parseVoiceAnswer('hello'), /not an SDP description/);
  t.throws(() => parseVoiceAnswer(good.replace('RTP/SAVP', 'RTP/AVP')), /SRTP only/);
  t.throws(() => parseVoiceAnswer(good.replace(/a=crypto.*\r\n/, '')), /a=crypto: missing/);
  t.throws(() => parseVoiceAnswer(good.replace('opus/48000/2', 'PCMU/8000')), /no opus\/48000/);
  t.throws(() => parseVoiceAnswer(good.replace(/inline:\S+/, 'inline:AAAA')), /a=crypto/);
});

/**
 * The "remote expert" of the talk-session tests and the voice bench: plain GStreamer peers
 * speaking Opus over SRTP (libsrtp through srtpenc/srtpdec, nobody's code of ours), and the
 * room mic stand-in that writes tone records into a pcm ring on the box clock.
 *
 *   sender:   audiotestsrc (tone, live) -> opusenc -> rtpopuspay pt=97 -> srtpenc -> udpsink
 *   receiver: udpsrc (SRTP caps with the box's key and SSRC) -> srtpdec -> rtpopusdepay -> opusdec -> filesink (S16LE 48 kHz mono)
 */
import { randomBytes } from 'node:crypto';
import { RECORD_KIND_PCM_S16LE } from '../../edge/lib/record-kinds.js';
import { FLAG_SYNC, type RingProducer } from '../../edge/lib/ring/index.js';
import type { SrtpKeying } from '../../edge/srtp/index.js';
import { GstPeer } from '../rtp/gst-peers.js';

const keyHex = (k: SrtpKeying) => Buffer.concat([k.masterKey, k.masterSalt]).toString('hex');

/** The expert's voice: a live tone of `hz` sent as Opus/SRTP from `bindPort` to the box. */
export function expertSender(o: { hz: number; keying: SrtpKeying; host: string; port: number; bindPort: number; volume?: number; wave?: string }): GstPeer {
  const k = o.keying;
  return new GstPeer([
    'audiotestsrc', 'is-live=true', `wave=${o.wave ?? 'sine'}`, `freq=${o.hz}`, `volume=${o.volume ?? 0.3}`, 'samplesperbuffer=960', '!',
    'audio/x-raw,rate=48000,channels=1', '!', 'opusenc', 'frame-size=20', 'audio-type=restricted-lowdelay', '!', 'rtpopuspay', 'pt=97', '!',
    'srtpenc', `key=${keyHex(k)}`, `rtp-cipher=${k.suite.gstCipher}`, `rtp-auth=${k.suite.gstAuth}`, `rtcp-cipher=${k.suite.gstCipher}`, `rtcp-auth=${k.suite.gstAuth}`, '!',
    'udpsink', `host=${o.host}`, `port=${o.port}`, `bind-port=${o.bindPort}`, 'sync=false', 'async=false',
  ]);
}

/** The expert's ear: the box's SRTP Opus on `port`, decoded into `outPath` (S16LE 48 kHz mono). */
export function expertReceiver(o: { port: number; keying: SrtpKeying; ssrc: number; outPath: string }): GstPeer {
  const k = o.keying;
  const caps = `application/x-srtp,media=audio,clock-rate=48000,encoding-name=OPUS,payload=97,ssrc=(uint)${o.ssrc},` +
    `srtp-key=(buffer)${keyHex(k)},srtp-cipher=(string)${k.suite.gstCipher},srtp-auth=(string)${k.suite.gstAuth},` +
    `srtcp-cipher=(string)${k.suite.gstCipher},srtcp-auth=(string)${k.suite.gstAuth}`;
  return new GstPeer([
    'udpsrc', `port=${o.port}`, 'address=127.0.0.1', `caps=${caps}`, '!', 'srtpdec', '!', 'rtpopusdepay', '!', 'opusdec', 'plc=true', '!',
    'audioconvert', '!', 'audio/x-raw,format=S16LE,rate=48000,channels=1', '!', 'filesink', `location=${o.outPath}`,
  ]);
}

/**
 * A room mic stand-in: 20 ms records of 48 kHz mono S16LE into `ring`, stamped on the box's
 * monotonic clock by sample count from the start (as audio-capture stamps them), written on
 * time by a 5 ms timer (wall = mono: a stand-in). `sample(i)` gives sample i (from `t0`, box
 * monotonic ns). Returns stop().
 */
export function micStandIn(ring: RingProducer, sample: (i: number) => number, t0 = process.hrtime.bigint()): () => void {
  let next = 0;
  const rec = new Int16Array(960);
  const timer = setInterval(() => {
    const due = Number(process.hrtime.bigint() - t0) / 1e9 * 48000;
    while (next + 960 <= due) {
      for (let i = 0; i < 960; i++) rec[i] = Math.max(-32768, Math.min(32767, Math.round(sample(next + i))));
      const mono = t0 + BigInt(Math.round((next / 48000) * 1e9));
      ring.write(RECORD_KIND_PCM_S16LE, FLAG_SYNC, mono, mono, new Uint8Array(rec.buffer));
      next += 960;
    }
  }, 5);
  return () => clearInterval(timer);
}

/** Free-ish UDP port numbers for one test (random in a high range; the OS refuses a clash loudly). */
export function testPorts(n: number): number[] {
  const base = 40000 + (randomBytes(2).readUInt16BE() % 10000) * 2;
  return Array.from({ length: n }, (_, i) => base + i * 2);
}

/**
 * A speech-like far-end voice (48 kHz): a 220 Hz +- 40 Hz glottal tone with two harmonics,
 * syllable envelope at 2.3 Hz, and a little noise. Deterministic (seeded).
 */
export function speechLike(seconds: number, level = 0.25): Int16Array {
  const n = Math.round(seconds * 48000);
  const out = new Int16Array(n);
  let seed = 1;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff - 0.5; };
  let ph = 0;
  for (let i = 0; i < n; i++) {
    const t = i / 48000;
    const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 2.3 * t);
    ph += (2 * Math.PI * (220 + 40 * Math.sin(2 * Math.PI * 0.7 * t))) / 48000;
    const v = level * env * (Math.sin(ph) + 0.5 * Math.sin(2 * ph + 1) + 0.3 * Math.sin(3 * ph + 2)) + 0.03 * rnd();
    out[i] = Math.round(Math.max(-1, Math.min(1, v)) * 32767);
  }
  return out;
}

/** The expert sends a WAV file (paced in real time) as Opus/SRTP. */
export function expertFileSender(o: { wav: string; keying: SrtpKeying; host: string; port: number; bindPort: number }): GstPeer {
  const k = o.keying;
  return new GstPeer([
    'filesrc', `location=${o.wav}`, '!', 'wavparse', '!', 'audioconvert', '!', 'audio/x-raw,rate=48000,channels=1', '!', 'identity', 'sync=true', '!',
    'opusenc', 'frame-size=20', 'audio-type=restricted-lowdelay', '!', 'rtpopuspay', 'pt=97', '!',
    'srtpenc', `key=${keyHex(k)}`, `rtp-cipher=${k.suite.gstCipher}`, `rtp-auth=${k.suite.gstAuth}`, `rtcp-cipher=${k.suite.gstCipher}`, `rtcp-auth=${k.suite.gstAuth}`, '!',
    'udpsink', `host=${o.host}`, `port=${o.port}`, `bind-port=${o.bindPort}`, 'sync=false', 'async=false',
  ]);
}

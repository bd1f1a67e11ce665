/**
 * The room speaker of a talk session (`audio.output`): `none`, `file:<path>` (a WAV file, 48 kHz
 * mono S16LE, written as the audio is played out: tests and labs), or `alsa:<card id>`
 * (`appsrc ! alsasink device=plughw:CARD=<id>,DEV=0`; Debian gstreamer1.0-alsa; exercised on
 * hardware only: this VM has no sound card).
 * Lifecycle: open() (the file is created, header sizes 0), write() per played block, close()
 * (idempotent: the WAV header gets its sizes). Errors name the output. Runs on: duplex-voice.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { GstPipeline, type GstAppSrc } from '../../gst/index.js';

export type VoiceOutputSpec = { kind: 'none' } | { kind: 'file'; path: string } | { kind: 'alsa'; card: string };

export class VoiceOutputError extends Error {
  constructor(readonly output: string, detail: string) { super(`audio.output "${output}": ${detail}`); }
}

export function parseVoiceOutput(s: string): VoiceOutputSpec {
  if (s === 'none') return { kind: 'none' };
  if (s.startsWith('file:') && s.length > 5) return { kind: 'file', path: s.slice(5) };
  if (/^alsa:[A-Za-z0-9_-]{1,32}$/.test(s)) return { kind: 'alsa', card: s.slice(5) };
  throw new VoiceOutputError(s, 'expected none, file:<path> or alsa:<card id>');
}

export const OUTPUT_RATE = 48_000;

export class VoiceOutput {
  private fd: number | undefined;
  private bytes = 0;
  private pipeline: GstPipeline | undefined;
  private src: GstAppSrc | undefined;
  private closed = false;

  constructor(readonly spec: VoiceOutputSpec) {}

  open(): void {
    if (this.spec.kind === 'file') {
      try { this.fd = openSync(this.spec.path, 'w'); } catch (e) { throw new VoiceOutputError(`file:${this.spec.path}`, (e as Error).message); }
      writeSync(this.fd, wavHeader(0));
    } else if (this.spec.kind === 'alsa') {
      const caps = `audio/x-raw,format=S16LE,layout=interleaved,rate=${OUTPUT_RATE},channels=1`;
      this.pipeline = new GstPipeline(`appsrc name=spk is-live=true format=time do-timestamp=true block=false caps="${caps}" ! audioconvert ! audioresample ! alsasink device=plughw:CARD=${this.spec.card},DEV=0 sync=false`, { label: `speaker ${this.spec.card}` });
      this.pipeline.start();
      this.src = this.pipeline.appsrc('spk');
    }
  }

  /** One played block (48 kHz mono S16LE bytes), its play instant as pipeline time. */
  write(pcm: Uint8Array, ptsNs: number): void {
    if (this.closed) return;
    if (this.fd !== undefined) { writeSync(this.fd, pcm); this.bytes += pcm.length; }
    this.src?.push(pcm, { ptsNs, durationNs: Math.round((pcm.length / 2) * 1e9 / OUTPUT_RATE) });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.fd !== undefined) {
      writeSync(this.fd, wavHeader(this.bytes), 0, 44, 0);
      closeSync(this.fd);
      this.fd = undefined;
    }
    this.pipeline?.close();
  }
}

/** RIFF/WAVE header of 48 kHz mono S16LE PCM with `dataBytes` of samples. */
export function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + dataBytes, 4); h.write('WAVEfmt ', 8);
  h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(1, 22);
  h.writeUInt32LE(OUTPUT_RATE, 24); h.writeUInt32LE(OUTPUT_RATE * 2, 28); h.writeUInt16LE(2, 32); h.writeUInt16LE(16, 34);
  h.write('data', 36); h.writeUInt32LE(dataBytes, 40);
  return h;
}

/**
 * The Opus oracle of the audio tests: GStreamer's rtpopusdepay and opusdec decode RTP packets
 * (RFC 4571-framed in a file, as rtpstreamdepay reads them) into S16LE PCM at 48 kHz, and two
 * measures on the decoded samples: a tone's frequency by zero crossings, and the onsets of
 * clicks (the test-tone's 1 ms pulses) to the sample.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { frameRtpStream } from '../rtp/gst-peers.js';

export const OPUS_RTP_STREAM_CAPS = 'application/x-rtp-stream,media=audio,clock-rate=48000,encoding-name=OPUS,payload=97';

/** Decodes RTP Opus packets with GStreamer into interleaved S16LE at 48 kHz. */
export async function decodeOpusRtp(packets: readonly Buffer[], channels = 1): Promise<Int16Array> {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-opus-'));
  try {
    const inPath = join(dir, 'in.rtp');
    const outPath = join(dir, 'out.pcm');
    writeFileSync(inPath, frameRtpStream(packets));
    await new Promise<void>((resolve, reject) => {
      const p = spawn('gst-launch-1.0', ['-q',
        'filesrc', `location=${inPath}`, '!', OPUS_RTP_STREAM_CAPS, '!', 'rtpstreamdepay', '!', 'rtpopusdepay', '!', 'opusdec', 'plc=true', '!',
        'audioconvert', '!', `audio/x-raw,format=S16LE,rate=48000,channels=${channels}`, '!', 'filesink', `location=${outPath}`,
      ], { stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`gst-launch exit ${code}: ${err.slice(-500)}`))));
    });
    const b = readFileSync(outPath);
    return new Int16Array(b.buffer, b.byteOffset, b.length >> 1).slice();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Frequency (Hz) of a tone in samples [from, to) of a mono signal at `rate`, by upward zero crossings. */
export function zeroCrossingHz(x: Int16Array, rate: number, from = 0, to = x.length): number {
  let first = -1, last = -1, n = 0;
  for (let i = from + 1; i < to; i++) {
    if (x[i - 1] < 0 && x[i] >= 0) {
      if (first < 0) first = i; else n++;
      last = i;
    }
  }
  return n > 0 ? (n * rate) / (last - first) : 0;
}

/**
 * Sample indices where a click starts: a sample at or above `threshold` (absolute) with none
 * in the `quietMs` before it.
 */
export function clickOnsets(x: Int16Array, rate: number, threshold = 16000, quietMs = 50): number[] {
  const need = Math.round((rate * quietMs) / 1000);
  const out: number[] = [];
  let lastLoud = -Infinity;
  for (let i = 0; i < x.length; i++) {
    if (Math.abs(x[i]) < threshold) continue;
    if (i - lastLoud > need) out.push(i);
    lastLoud = i;
  }
  return out;
}

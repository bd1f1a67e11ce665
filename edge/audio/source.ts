/**
 * Where an audio input's samples come from, parsed from its configured `device`, and the
 * GStreamer description of a source that is a pipeline.
 *
 *   device                 source
 *   test-tone              the demo pattern (tone.ts), generated on the box clock; no pipeline
 *   alsa:<card id>         alsasrc device=plughw:CARD=<id>,DEV=0   (the card's ALSA id, e.g. "USB" or
 *                          "CODEC": stable across reboots, unlike the card number)
 *   alsa-path:<name>       the card behind /dev/snd/by-path/<name> (a USB port or a PCI slot,
 *                          e.g. "pci-0000:00:14.0-usb-0:2:1.0"), resolved at every (re)start so a
 *                          re-plugged device is found under its new number
 *   gst:<description>      a GStreamer source description (labs, and the tests' stand-ins
 *                          for ALSA: this VM has no sound card)
 *
 * Every pipeline source ends in `audioconvert ! audioresample` and the input's raw caps
 * (interleaved S16LE at its rate and channel count) in the appsink named PCM_SINK.
 * Errors: RangeError naming the input for a device it cannot describe; AlsaPathError when a
 * by-path name does not lead to a card (the capture treats it as a source that is away).
 * Runs on: audio-capture.
 */
import { readlinkSync } from 'node:fs';
import { basename } from 'node:path';

export type AudioSource =
  | { type: 'test-tone' }
  | { type: 'alsa'; card: string }
  | { type: 'alsa-path'; path: string }
  | { type: 'gst'; description: string };

export const PCM_SINK = 'pcm-sink';

/** Where ALSA's by-path links live; a parameter so tests can point it at a folder of their own. */
export const SND_BY_PATH = '/dev/snd/by-path';

const CARD_ID_RE = /^[A-Za-z0-9_-]{1,32}$/;
const BY_PATH_RE = /^[A-Za-z0-9_.:-]{1,128}$/;

export class AlsaPathError extends Error {
  override readonly name = 'AlsaPathError';
  constructor(readonly path: string, message: string) {
    super(`alsa-path ${path}: ${message}`);
  }
}

/** @throws RangeError for a device string that is none of the forms above. */
export function parseAudioDevice(input: string, device: string): AudioSource {
  if (device === 'test-tone') return { type: 'test-tone' };
  const colon = device.indexOf(':');
  const kind = colon < 0 ? device : device.slice(0, colon);
  const rest = colon < 0 ? '' : device.slice(colon + 1);
  switch (kind) {
    case 'alsa':
      if (!CARD_ID_RE.test(rest)) throw new RangeError(`audio input ${input}: "${device}": an ALSA card id is 1-32 letters, digits, - or _`);
      return { type: 'alsa', card: rest };
    case 'alsa-path':
      if (!BY_PATH_RE.test(rest)) throw new RangeError(`audio input ${input}: "${device}": not a /dev/snd/by-path name`);
      return { type: 'alsa-path', path: rest };
    case 'gst':
      if (!rest.trim()) throw new RangeError(`audio input ${input}: "${device}": empty GStreamer description`);
      return { type: 'gst', description: rest };
    default:
      throw new RangeError(`audio input ${input}: device "${device}" is not test-tone, alsa:<card id>, alsa-path:<by-path name> or gst:<description>`);
  }
}

/**
 * The card number behind a by-path link (`../controlC<N>`), read now. @throws AlsaPathError.
 */
export function resolveAlsaPath(name: string, dir = SND_BY_PATH): number {
  let target: string;
  try {
    target = readlinkSync(`${dir}/${name}`);
  } catch (e) {
    throw new AlsaPathError(name, (e as NodeJS.ErrnoException).code ?? (e as Error).message);
  }
  const m = /^controlC(\d+)$/.exec(basename(target));
  if (!m) throw new AlsaPathError(name, `links to ${target}, not a controlC<N> node`);
  return Number(m[1]);
}

/**
 * The whole capture pipeline of a pipeline source, ending in the appsink PCM_SINK.
 * `cardOf` resolves an alsa-path name (default resolveAlsaPath). @throws AlsaPathError.
 */
export function sourceDescription(src: Exclude<AudioSource, { type: 'test-tone' }>, rate: number, channels: number, cardOf: (path: string) => number = resolveAlsaPath): string {
  let head: string;
  // ALSA periods of 10 ms (latency-time, us) so a record waits for at most one period.
  const alsa = (dev: string) => `alsasrc device=${dev} latency-time=10000 buffer-time=200000 provide-clock=false`;
  switch (src.type) {
    case 'alsa': head = alsa(`plughw:CARD=${src.card},DEV=0`); break;
    case 'alsa-path': head = alsa(`plughw:${cardOf(src.path)},0`); break;
    case 'gst': head = src.description; break;
  }
  const caps = `audio/x-raw,format=S16LE,layout=interleaved,rate=${rate},channels=${channels}`;
  return `${head} ! audioconvert ! audioresample ! capsfilter caps="${caps}" ! appsink name=${PCM_SINK} sync=false async=false emit-signals=false max-buffers=16 drop=true wait-on-eos=false`;
}

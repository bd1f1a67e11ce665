/**
 * The uplink's SRTP master keys and stream identities, one file per receiver under
 * `<dataDir>/uplink/keys/<receiver>.json` (mode 0600, in a 0700 folder).
 *
 * Contract
 * - Owns: per (receiver, channel), three master keys (key || salt, RFC 3711 §8.2), one per SRTP
 *   session that could otherwise repeat a keystream: the media port (media and RTX: distinct
 *   SSRCs under one key), the FEC column port and the FEC row port (SMPTE 2022-1 streams carry
 *   SSRC 0 like the media, so they must not share its key); and the media and RTX SSRCs, so
 *   the SDP a receiver was given stays true across restarts. A channel with audio has a fourth
 *   key, for its audio port (Opus and its RTX: two more SSRCs under it), and the audio's SSRCs
 *   and timestamp offset; a key file made before the channel had audio gets them added, its
 *   video keys untouched (the video part of an SDP given out earlier stays valid).
 * - Created on first use by whichever worker asks first (control for `orbox uplink sdp`,
 *   net-send to send): written to a temporary file and linked into place, so two creators race
 *   safely and the loser reads the winner's keys. A channel added to the receiver later gets
 *   its keys added the same way (rename over, under the same rules).
 * - `rekey(receiver)` replaces every key of the receiver (a receiver whose SDP leaked): the SDP
 *   must be fetched again, and index reservations (index-journal.ts) start over with the new keys.
 * - Errors: UplinkKeyError names the file and what is wrong (unreadable, not JSON, a key of the
 *   wrong length for its suite); a damaged file is never silently replaced.
 * Runs on: control, net-send.
 */
import { randomBytes as nodeRandomBytes, createHash } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80' | 'AEAD_AES_128_GCM';

/** Master key + salt lengths (bytes) per suite: RFC 3711 §8.2 (16 + 14), RFC 7714 §12 (16 + 12). */
export const MASTER_LENGTH: Record<SrtpSuiteName, number> = { AES_CM_128_HMAC_SHA1_80: 30, AEAD_AES_128_GCM: 28 };

export interface ChannelKeys {
  /** base64 of master key || master salt. */
  media: string;
  fecColumns: string;
  fecRows: string;
  mediaSsrc: number;
  rtxSsrc: number;
  /**
   * The media stream's RTP timestamp offset (RFC 3550 §5.1: random), kept with the keys so a
   * restarted sender continues the stream's timeline instead of jumping (its receivers' jitter
   * buffers and decoders would resync). Absent in files from before it was kept: random then.
   */
  rtpTimestampOffset?: number;
  /**
   * The channel's audio (Opus over SRTP on its own port pair): its master key, the Opus and
   * audio RTX SSRCs, and the Opus timestamp offset (kept like the video's). Present once the
   * channel has audio.
   */
  audio?: { key: string; ssrc: number; rtxSsrc: number; rtpTimestampOffset: number };
}

/** What a receiver's channel needs keys for. */
export interface KeyedChannel {
  name: string;
  /** The channel's media SSRC must be 0 (SMPTE 2022-1 FEC protects it). */
  mediaSsrc0: boolean;
  /** The channel has audio: it needs the audio key and SSRCs too. */
  audio?: boolean;
}

export interface ReceiverKeys {
  receiver: string;
  suite: SrtpSuiteName;
  /** ISO time the keys were made (shown by status; a reviewer can see a rekey). */
  createdAt: string;
  channels: Record<string, ChannelKeys>;
}

export class UplinkKeyError extends Error {
  override name = 'UplinkKeyError';
  constructor(readonly file: string, detail: string) {
    super(`uplink keys ${file}: ${detail}`);
  }
}

export interface KeyStoreOptions {
  /** `<dataDir>/uplink/keys`. */
  dir: string;
  /** Injected for tests; crypto.randomBytes otherwise. */
  randomBytes?: (n: number) => Buffer;
  now?: () => Date;
}

/** A short id of a key (not the key): what index reservations are filed under. */
export function keyId(masterB64: string): string {
  return createHash('sha256').update(masterB64).digest('hex').slice(0, 16);
}

export class UplinkKeyStore {
  private readonly random: (n: number) => Buffer;
  private readonly now: () => Date;

  constructor(private readonly opts: KeyStoreOptions) {
    this.random = opts.randomBytes ?? nodeRandomBytes;
    this.now = opts.now ?? (() => new Date());
  }

  file(receiver: string): string {
    return join(this.opts.dir, `${receiver}.json`);
  }

  /**
   * The receiver's keys, covering `channels` (made where missing; audio keys added to a channel
   * that has audio now). @throws UplinkKeyError.
   */
  get(receiver: string, suite: SrtpSuiteName, channels: readonly KeyedChannel[]): ReceiverKeys {
    let keys = this.read(receiver);
    if (keys && keys.suite !== suite) throw new UplinkKeyError(this.file(receiver), `keys are for ${keys.suite}, the configuration asks ${suite}: run \`orbox uplink rekey ${receiver}\``);
    const missing = channels.filter((c) => !keys?.channels[c.name] || (keys.channels[c.name]!.mediaSsrc === 0) !== c.mediaSsrc0);
    if (!keys) {
      keys = { receiver, suite, createdAt: this.now().toISOString(), channels: {} };
      for (const c of channels) keys.channels[c.name] = this.fresh(suite, c);
      if (this.create(receiver, keys)) return keys;
      return this.get(receiver, suite, channels); // another worker made them first
    }
    const noAudio = channels.filter((c) => c.audio && !missing.includes(c) && !keys!.channels[c.name]!.audio);
    if (missing.length === 0 && noAudio.length === 0) return keys;
    for (const c of missing) keys.channels[c.name] = this.fresh(suite, c);
    for (const c of noAudio) keys.channels[c.name]!.audio = this.freshAudio(suite, keys.channels[c.name]!);
    this.replace(receiver, keys);
    return keys;
  }

  /** New keys for every channel the receiver had. Returns them. */
  rekey(receiver: string, suite: SrtpSuiteName, channels: readonly KeyedChannel[]): ReceiverKeys {
    const keys: ReceiverKeys = { receiver, suite, createdAt: this.now().toISOString(), channels: {} };
    for (const c of channels) keys.channels[c.name] = this.fresh(suite, c);
    this.replace(receiver, keys);
    return keys;
  }

  private fresh(suite: SrtpSuiteName, c: KeyedChannel): ChannelKeys {
    const n = MASTER_LENGTH[suite];
    const ssrc = (): number => this.random(4).readUInt32BE(0);
    let mediaSsrc = c.mediaSsrc0 ? 0 : ssrc();
    let rtxSsrc = ssrc();
    while (rtxSsrc === mediaSsrc || rtxSsrc === 0) rtxSsrc = ssrc();
    while (!c.mediaSsrc0 && mediaSsrc === 0) mediaSsrc = ssrc();
    const k: ChannelKeys = { media: this.random(n).toString('base64'), fecColumns: this.random(n).toString('base64'), fecRows: this.random(n).toString('base64'), mediaSsrc, rtxSsrc, rtpTimestampOffset: ssrc() };
    if (c.audio) k.audio = this.freshAudio(suite, k);
    return k;
  }

  /** Audio key and SSRCs, none equal to the channel's other SSRCs (a receiver may run the streams in one rtpbin). */
  private freshAudio(suite: SrtpSuiteName, video: ChannelKeys): NonNullable<ChannelKeys['audio']> {
    const taken = new Set([0, video.mediaSsrc, video.rtxSsrc]);
    const ssrc = (): number => {
      let x = this.random(4).readUInt32BE(0);
      while (taken.has(x)) x = this.random(4).readUInt32BE(0);
      taken.add(x);
      return x;
    };
    return { key: this.random(MASTER_LENGTH[suite]).toString('base64'), ssrc: ssrc(), rtxSsrc: ssrc(), rtpTimestampOffset: this.random(4).readUInt32BE(0) };
  }

  private read(receiver: string): ReceiverKeys | undefined {
    const f = this.file(receiver);
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new UplinkKeyError(f, `cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    let k: ReceiverKeys;
    try { k = JSON.parse(text) as ReceiverKeys; } catch { throw new UplinkKeyError(f, 'not JSON'); }
    if (!k || typeof k !== 'object' || !(k.suite in MASTER_LENGTH) || typeof k.channels !== 'object' || k.channels === null) {
      throw new UplinkKeyError(f, 'not an uplink key file (suite or channels missing)');
    }
    for (const [ch, c] of Object.entries(k.channels)) {
      for (const part of ['media', 'fecColumns', 'fecRows'] as const) {
        const len = typeof c[part] === 'string' ? Buffer.from(c[part], 'base64').length : -1;
        if (len !== MASTER_LENGTH[k.suite]) throw new UplinkKeyError(f, `channel "${ch}" ${part} key is ${len < 0 ? 'missing' : `${len} bytes`}, ${k.suite} needs ${MASTER_LENGTH[k.suite]}`);
      }
      if (!Number.isInteger(c.mediaSsrc) || !Number.isInteger(c.rtxSsrc)) throw new UplinkKeyError(f, `channel "${ch}" has no SSRCs`);
      if (c.audio !== undefined) {
        const a = c.audio as Partial<NonNullable<ChannelKeys['audio']>> | null;
        const len = a && typeof a.key === 'string' ? Buffer.from(a.key, 'base64').length : -1;
        if (len !== MASTER_LENGTH[k.suite]) throw new UplinkKeyError(f, `channel "${ch}" audio key is ${len < 0 ? 'missing' : `${len} bytes`}, ${k.suite} needs ${MASTER_LENGTH[k.suite]}`);
        if (!Number.isInteger(a!.ssrc) || !Number.isInteger(a!.rtxSsrc) || !Number.isInteger(a!.rtpTimestampOffset)) throw new UplinkKeyError(f, `channel "${ch}" audio has no SSRCs or timestamp offset`);
      }
    }
    return k;
  }

  private temp(receiver: string, keys: ReceiverKeys): string {
    mkdirSync(this.opts.dir, { recursive: true, mode: 0o700 });
    const tmp = join(this.opts.dir, `.${receiver}.${process.pid}.${this.random(4).toString('hex')}.tmp`);
    writeFileSync(tmp, JSON.stringify(keys, null, 2) + '\n', { mode: 0o600, flush: true });
    chmodSync(tmp, 0o600);
    return tmp;
  }

  /** Links the file into place only if none exists; false when another creator won. */
  private create(receiver: string, keys: ReceiverKeys): boolean {
    const tmp = this.temp(receiver, keys);
    try {
      linkSync(tmp, this.file(receiver));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw new UplinkKeyError(this.file(receiver), `cannot create (${(err as NodeJS.ErrnoException).code ?? err})`);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  private replace(receiver: string, keys: ReceiverKeys): void {
    renameSync(this.temp(receiver, keys), this.file(receiver));
  }
}

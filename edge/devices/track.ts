/**
 * The vitals track: crash-safe, append-only recording of VitalSamples beside the video, on the
 * box clock. The device-data worker writes it; control's catalog indexes it (VitalsTrackInfo).
 *
 *   file   = "ORBXVIT1" (8 bytes) | version u32 LE (1) | reserved u32 | created_wall_ns u64 LE
 *   record = length u32 LE | crc32 u32 LE (of payload) | payload (orbox.vitals.v1.VitalSample)
 *
 * Durability: records are buffered and written every FLUSH_MS, and fdatasync'ed at most every
 * SYNC_MS (1 s) when something was written, so a power cut loses at most about the last second.
 * A reader stops cleanly at the first record that is incomplete or fails its CRC (a torn tail),
 * and reopening a file for append first cuts such a tail off.
 */
import { closeSync, existsSync, fdatasyncSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import type { VitalSample } from './sample.js';
import { decodeVitalSample, encodeVitalSample } from './vitals-codec.js';

export const TRACK_MAGIC = 'ORBXVIT1';
export const TRACK_VERSION = 1;
export const TRACK_HEADER = 24;
const RECORD_HEADER = 8;
/** A VitalSample is at most a few KB (a wave block of ~1 s); 1 MiB means the length is garbage. */
export const MAX_RECORD = 1 << 20;
const FLUSH_MS = 200;
const SYNC_MS = 1000;
const MAX_PENDING = 256 * 1024;

/** What a catalog row needs (the catalog itself belongs to control). */
export interface VitalsTrackInfo {
  path: string;
  /** Box wall ns of the first sample written (0n before any). */
  startWallNs: bigint;
  /** Box wall ns of the last sample's end (a wave block's last sample). */
  endWallNs: bigint;
  bytes: number;
  samples: number;
}

export interface TrackWriterOptions {
  /** Box wall ns written in the header when the file is created. */
  createdWallNs: bigint;
  /** Timers; tests pass a no-op and call flush()/sync() themselves. */
  setInterval?: (fn: () => void, ms: number) => () => void;
}

const realInterval = (fn: () => void, ms: number) => {
  const t = setInterval(fn, ms);
  t.unref?.();
  return () => clearInterval(t);
};

export class VitalsTrackWriter {
  private fd: number | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private dirty = false;
  private stopTimers: (() => void)[] = [];
  private readonly stats: VitalsTrackInfo;
  constructor(readonly path: string, private readonly opts: TrackWriterOptions) {
    this.stats = { path, startWallNs: 0n, endWallNs: 0n, bytes: 0, samples: 0 };
  }

  /** Creates the file, or reopens it for append after cutting off a torn tail. */
  open(): void {
    if (this.fd !== undefined) return;
    if (existsSync(this.path)) {
      const r = readVitalsTrack(this.path);
      if (r.validBytes < TRACK_HEADER) throw new Error(`${this.path}: not a vitals track`);
      const fd = openSync(this.path, 'r+');
      try {
        ftruncateSync(fd, r.validBytes);
      } finally {
        closeSync(fd);
      }
      this.stats.bytes = r.validBytes;
      this.stats.samples = r.samples.length;
      if (r.samples.length) {
        this.stats.startWallNs = r.samples[0]!.hostWallNs;
        this.stats.endWallNs = sampleEnd(r.samples[r.samples.length - 1]!);
      }
      this.fd = openSync(this.path, 'a');
    } else {
      this.fd = openSync(this.path, 'a');
      const h = Buffer.alloc(TRACK_HEADER);
      h.write(TRACK_MAGIC, 0, 'latin1');
      h.writeUInt32LE(TRACK_VERSION, 8);
      h.writeBigUInt64LE(this.opts.createdWallNs, 16);
      writeSync(this.fd, h);
      fdatasyncSync(this.fd);
      this.stats.bytes = TRACK_HEADER;
    }
    const every = this.opts.setInterval ?? realInterval;
    this.stopTimers.push(every(() => this.flush(), FLUSH_MS), every(() => this.sync(), SYNC_MS));
  }

  append(s: VitalSample): void {
    if (this.fd === undefined) throw new Error(`${this.path}: append before open() or after close()`);
    const payload = encodeVitalSample(s);
    const h = Buffer.alloc(RECORD_HEADER);
    h.writeUInt32LE(payload.length, 0);
    h.writeUInt32LE(crc32(payload) >>> 0, 4);
    this.pending.push(h, Buffer.from(payload.buffer, payload.byteOffset, payload.length));
    this.pendingBytes += RECORD_HEADER + payload.length;
    this.stats.samples++;
    if (this.stats.startWallNs === 0n) this.stats.startWallNs = s.hostWallNs;
    const end = sampleEnd(s);
    if (end > this.stats.endWallNs) this.stats.endWallNs = end;
    if (this.pendingBytes >= MAX_PENDING) this.flush();
  }

  /** Writes buffered records to the file (no fsync). */
  flush(): void {
    if (this.fd === undefined || this.pendingBytes === 0) return;
    const buf = Buffer.concat(this.pending, this.pendingBytes);
    writeSync(this.fd, buf);
    this.stats.bytes += buf.length;
    this.pending = [];
    this.pendingBytes = 0;
    this.dirty = true;
  }

  /** Flushes and fdatasyncs if anything was written since the last sync. */
  sync(): void {
    this.flush();
    if (this.fd === undefined || !this.dirty) return;
    fdatasyncSync(this.fd);
    this.dirty = false;
  }

  info(): VitalsTrackInfo {
    return { ...this.stats, bytes: this.stats.bytes + this.pendingBytes };
  }

  /** Syncs and closes. Idempotent. */
  close(): VitalsTrackInfo {
    if (this.fd !== undefined) {
      for (const s of this.stopTimers) s();
      this.stopTimers = [];
      this.sync();
      closeSync(this.fd);
      this.fd = undefined;
    }
    return this.info();
  }
}

function sampleEnd(s: VitalSample): bigint {
  return s.kind === 'wave' && s.samples.length ? s.hostWallNs + BigInt(s.samples.length - 1) * s.samplePeriodNs : s.hostWallNs;
}

export interface TrackReadResult {
  createdWallNs: bigint;
  samples: VitalSample[];
  /** Bytes up to the end of the last good record. */
  validBytes: number;
  /** True when bytes after the last good record were ignored (torn or corrupt tail). */
  tornTail: boolean;
}

export function parseVitalsTrack(file: Uint8Array): TrackReadResult {
  const b = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (b.length < TRACK_HEADER || b.toString('latin1', 0, 8) !== TRACK_MAGIC) {
    return { createdWallNs: 0n, samples: [], validBytes: 0, tornTail: b.length > 0 };
  }
  const createdWallNs = b.readBigUInt64LE(16);
  const samples: VitalSample[] = [];
  let p = TRACK_HEADER;
  while (p + RECORD_HEADER <= b.length) {
    const n = b.readUInt32LE(p);
    const crc = b.readUInt32LE(p + 4);
    if (n > MAX_RECORD || p + RECORD_HEADER + n > b.length) break;
    const payload = b.subarray(p + RECORD_HEADER, p + RECORD_HEADER + n);
    if ((crc32(payload) >>> 0) !== crc) break;
    try {
      samples.push(decodeVitalSample(payload));
    } catch {
      break;
    }
    p += RECORD_HEADER + n;
  }
  return { createdWallNs, samples, validBytes: p, tornTail: p < b.length };
}

export function readVitalsTrack(path: string): TrackReadResult {
  return parseVitalsTrack(new Uint8Array(readFileSync(path)));
}

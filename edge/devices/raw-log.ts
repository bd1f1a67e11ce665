/**
 * Raw device-to-box byte captures: what `orbox devices replay` reads and what the service can
 * keep per port. Each read is kept as it came (its split matters when reproducing a framing
 * fault), with the box time it was read at.
 *
 *   file   = "ORBXRAW1" (8 bytes) | protocol u8 (1 intellivue, 2 s5, 3 medibus) | 7 reserved
 *            | chunk*
 *   chunk  = wall_ns u64 LE | mono_ns u64 LE | length u32 LE | bytes
 *
 * A file without the magic is taken as one plain byte stream (a capture made with any other
 * tool, e.g. socat -x or `cat /dev/ttyUSB0`), with no read times. A torn last chunk (power cut)
 * ends the read cleanly.
 */
import { closeSync, existsSync, fstatSync, openSync, writeSync } from 'node:fs';
import type { Timestamp } from '../lib/clock.js';
import type { Protocol } from './sample.js';

export const RAW_MAGIC = 'ORBXRAW1';
const HEADER = 16;
const CHUNK_HEADER = 20;
const PROTOCOL_ID: Record<Protocol, number> = { intellivue: 1, s5: 2, medibus: 3 };
const PROTOCOL_OF: Record<number, Protocol> = { 1: 'intellivue', 2: 's5', 3: 'medibus' };

export interface RawChunk {
  /** Box time of the read, undefined for a plain byte stream. */
  at?: Timestamp;
  bytes: Uint8Array;
}

export interface RawCapture {
  protocol?: Protocol;
  chunks: RawChunk[];
  /** True when the last chunk was cut short (and dropped). */
  tornTail: boolean;
}

export function parseRawCapture(file: Uint8Array): RawCapture {
  const magic = Buffer.from(file.buffer, file.byteOffset, Math.min(8, file.length)).toString('latin1');
  if (magic !== RAW_MAGIC || file.length < HEADER) return { chunks: file.length ? [{ bytes: file }] : [], tornTail: false };
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const protocol = PROTOCOL_OF[file[8]!];
  const chunks: RawChunk[] = [];
  let p = HEADER;
  let tornTail = false;
  while (p < file.length) {
    if (p + CHUNK_HEADER > file.length) {
      tornTail = true;
      break;
    }
    const wallNs = dv.getBigUint64(p, true);
    const monoNs = dv.getBigUint64(p + 8, true);
    const n = dv.getUint32(p + 16, true);
    if (p + CHUNK_HEADER + n > file.length) {
      tornTail = true;
      break;
    }
    chunks.push({ at: { wallNs, monoNs }, bytes: file.subarray(p + CHUNK_HEADER, p + CHUNK_HEADER + n) });
    p += CHUNK_HEADER + n;
  }
  return { ...(protocol ? { protocol } : {}), chunks, tornTail };
}

/** Encodes chunks as a capture file (tests, tools). */
export function encodeRawCapture(protocol: Protocol, chunks: readonly RawChunk[]): Uint8Array {
  const parts: Buffer[] = [rawHeader(protocol)];
  for (const c of chunks) parts.push(chunkHeader(c.at ?? { wallNs: 0n, monoNs: 0n }, c.bytes.length), Buffer.from(c.bytes));
  return new Uint8Array(Buffer.concat(parts));
}

function rawHeader(protocol: Protocol): Buffer {
  const h = Buffer.alloc(HEADER);
  h.write(RAW_MAGIC, 0, 'latin1');
  h[8] = PROTOCOL_ID[protocol];
  return h;
}

function chunkHeader(at: Timestamp, n: number): Buffer {
  const h = Buffer.alloc(CHUNK_HEADER);
  h.writeBigUInt64LE(at.wallNs, 0);
  h.writeBigUInt64LE(at.monoNs, 8);
  h.writeUInt32LE(n, 16);
  return h;
}

/**
 * Appends reads to a raw log, synchronously (serial rates are a few KB/s). Bounded: beyond
 * `maxBytes` further chunks are counted in `dropped`, not written. Not fsynced: a raw log is a
 * diagnostic aid, the vitals track is the record.
 */
export class RawLogWriter {
  private fd: number | undefined;
  private bytes = 0;
  dropped = 0;
  constructor(readonly path: string, readonly protocol: Protocol, readonly maxBytes = 256 * 1024 * 1024) {
    if (!(maxBytes > HEADER)) throw new RangeError(`maxBytes must exceed ${HEADER}`);
  }
  open(): void {
    if (this.fd !== undefined) return;
    const fresh = !existsSync(this.path);
    this.fd = openSync(this.path, 'a');
    this.bytes = fstatSync(this.fd).size;
    if (fresh || this.bytes === 0) {
      writeSync(this.fd, rawHeader(this.protocol));
      this.bytes += HEADER;
    }
  }
  append(at: Timestamp, chunk: Uint8Array): void {
    if (this.fd === undefined) return;
    if (this.bytes + CHUNK_HEADER + chunk.length > this.maxBytes) {
      this.dropped++;
      return;
    }
    writeSync(this.fd, chunkHeader(at, chunk.length));
    writeSync(this.fd, chunk);
    this.bytes += CHUNK_HEADER + chunk.length;
  }
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

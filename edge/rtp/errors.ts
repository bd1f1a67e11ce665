/**
 * Typed errors of the RTP stack. Every decode error carries the byte offset where the input
 * stopped making sense, so a log line or a fuzz crash points at the byte.
 *
 * "Need more bytes" is never an error: decoders return a negative count for that (see each
 * decoder's doc). These errors mean the bytes present are wrong, or a caller broke a contract.
 */

/** Input bytes that violate the format (bad version, length past the end, bad type). */
export class RtpFormatError extends Error {
  override readonly name = 'RtpFormatError';
  /** Byte offset in the caller's buffer where the problem was found. */
  readonly offset: number;
  /** Which structure was being read, e.g. 'rtp-header', 'rtcp', 'annexb', 'sps'. */
  readonly structure: string;
  constructor(structure: string, offset: number, message: string) {
    super(`${structure} at byte ${offset}: ${message}`);
    this.structure = structure;
    this.offset = offset;
  }
}

/** An output buffer too small for what has to be written into it. */
export class BufferTooSmallError extends Error {
  override readonly name = 'BufferTooSmallError';
  readonly needed: number;
  readonly available: number;
  constructor(structure: string, needed: number, available: number) {
    super(`${structure}: needs ${needed} bytes, ${available} available`);
    this.needed = needed;
    this.available = available;
  }
}

/** A constructor or method option out of its allowed range; `option` names it. */
export class RtpOptionError extends Error {
  override readonly name = 'RtpOptionError';
  readonly option: string;
  constructor(option: string, message: string) {
    super(`option ${option}: ${message}`);
    this.option = option;
  }
}

/**
 * JPEG frame header: the picture size of a baseline or progressive JPEG, read from its SOF
 * segment without decoding (ITU-T T.81, Annex B: B.1.1.3 marker assignments, B.2.2 frame header).
 *
 *   FF D8 (SOI)  then segments  FF <marker> <length u16 BE, includes itself> <payload> ...
 *   SOFn payload: P (u8 sample precision), Y (u16 lines), X (u16 samples per line), Nf, ...
 *
 * SOFn are C0..CF except C4 (DHT), C8 (JPG, reserved) and CC (DAC). Standalone markers
 * (RSTn D0..D7, TEM 01) have no length. Fill bytes (FF FF ...) may precede a marker.
 *
 * Used by control to describe the stills video-encode hands it (their size comes from the
 * encoder, not from what the configuration asked for), and to refuse a payload that is not a
 * JPEG. Pure; every read is bounds-checked; never throws: malformed input returns null.
 * Runs on: control, tests.
 */

export interface JpegInfo {
  readonly width: number;
  readonly height: number;
  /** Sample precision in bits (8 for every JPEG the box makes). */
  readonly precision: number;
  /** Number of colour components (3 for Y'CbCr, 1 for grey). */
  readonly components: number;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;

function isSof(m: number): boolean {
  return m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
}

function standalone(m: number): boolean {
  return m === 0x01 || (m >= 0xd0 && m <= 0xd7);
}

/** Size and layout of a JPEG from its frame header; null when `buf` is not a readable JPEG. */
export function readJpegInfo(buf: Uint8Array): JpegInfo | null {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== SOI) return null;
  let i = 2;
  while (i < buf.length) {
    if (buf[i] !== 0xff) return null; // segments follow each other back to back until SOS
    while (i < buf.length && buf[i] === 0xff) i++; // fill bytes
    if (i >= buf.length) return null;
    const m = buf[i++];
    if (standalone(m)) continue;
    if (m === EOI || m === SOS || m === SOI) return null; // no frame header before the scan
    if (i + 2 > buf.length) return null;
    const len = (buf[i] << 8) | buf[i + 1];
    if (len < 2 || i + len > buf.length) return null;
    if (isSof(m)) {
      if (len < 8) return null;
      const precision = buf[i + 2];
      const height = (buf[i + 3] << 8) | buf[i + 4];
      const width = (buf[i + 5] << 8) | buf[i + 6];
      const components = buf[i + 7];
      // Y = 0 means "defined by a DNL segment later"; no encoder of ours writes that.
      if (width === 0 || height === 0 || components === 0) return null;
      return { width, height, precision, components };
    }
    i += len;
  }
  return null;
}

/**
 * AES_CM_128_HMAC_SHA1_80 packet transform: AES-128 in counter mode (RFC 3711 §4.1.1) and
 * HMAC-SHA1 truncated to 80 bits (§4.2), for SRTP (§3.1) and SRTCP (§3.4).
 *
 *   SRTP                                         SRTCP
 *   +--------------------------+                 +------------------------------+
 *   | RTP header (+CSRC, ext)  | clear           | V P RC PT length | SSRC      | clear (8 bytes)
 *   +--------------------------+ -+              +------------------------------+ -+
 *   | payload (+padding)       |  | encrypted    | rest of the compound packet  |  | encrypted
 *   +--------------------------+ -+              +------------------------------+ -+
 *   | auth tag (10 bytes)      |                 |E|     SRTCP index (31 bits)  |
 *   +--------------------------+                 +------------------------------+
 *   tag = HMAC-SHA1(k_a, header..payload || ROC)  | auth tag (10 bytes)          |
 *                                                 +------------------------------+
 *                                                 tag = HMAC-SHA1(k_a, header..E|index)
 *
 * IV (§4.1.1), 16 bytes: (k_s * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16), where index is the
 * 48-bit SRTP index or the 31-bit SRTCP index. No MKI (SDES lines with an MKI are refused).
 * The tag is compared with crypto.timingSafeEqual.
 * Runs on: net-send, `orbox receive`.
 */
import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { BufferTooSmallError, SrtpDrop } from './errors.js';
import type { DerivedKeys, SessionKeys } from './kdf.js';
import { AES_CM_128_HMAC_SHA1_80, SRTCP_INDEX_WORD, type SrtpSuite } from './suites.js';
import type { SrtpTransform } from './transform.js';
import { readU32, writeU32 } from '../rtp/header.js';

const TAG = 10;
const RTCP_HEADER = 8;
const E_FLAG = 0x8000_0000;

/** Writes the AES-CM IV for (salt, ssrc, index) into `iv` (16 bytes). */
export function aesCmIv(iv: Uint8Array, salt: Uint8Array, ssrc: number, index: number): void {
  iv.set(salt.subarray(0, 14), 0);
  iv[14] = 0;
  iv[15] = 0;
  iv[4] ^= ssrc >>> 24;
  iv[5] ^= (ssrc >>> 16) & 0xff;
  iv[6] ^= (ssrc >>> 8) & 0xff;
  iv[7] ^= ssrc & 0xff;
  const hi = Math.floor(index / 0x1_0000_0000); // top 16 bits of the 48-bit index
  const lo = index >>> 0;
  iv[8] ^= (hi >>> 8) & 0xff;
  iv[9] ^= hi & 0xff;
  iv[10] ^= lo >>> 24;
  iv[11] ^= (lo >>> 16) & 0xff;
  iv[12] ^= (lo >>> 8) & 0xff;
  iv[13] ^= lo & 0xff;
}

export class AesCmHmacSha1Transform implements SrtpTransform {
  readonly suite: SrtpSuite = AES_CM_128_HMAC_SHA1_80;
  private readonly rtp: SessionKeys;
  private readonly rtcp: SessionKeys;
  private readonly iv = Buffer.alloc(16);
  private readonly roc = Buffer.alloc(4);

  constructor(keys: DerivedKeys) {
    this.rtp = keys.rtp;
    this.rtcp = keys.rtcp;
  }

  protectRtp(pkt: Uint8Array, len: number, hdrLen: number, ssrc: number, index: number, out: Uint8Array): number {
    if (out.length < len + TAG) throw new BufferTooSmallError('srtp', len + TAG, out.length);
    aesCmIv(this.iv, this.rtp.salt, ssrc, index);
    const ct = createCipheriv('aes-128-ctr', this.rtp.encryptionKey, this.iv).update(pkt.subarray(hdrLen, len));
    if (out !== pkt) out.set(pkt.subarray(0, hdrLen), 0);
    out.set(ct, hdrLen);
    writeU32(this.roc, 0, Math.floor(index / 0x1_0000));
    const tag = createHmac('sha1', this.rtp.authKey).update(out.subarray(0, len)).update(this.roc).digest();
    out.set(tag.subarray(0, TAG), len);
    return len + TAG;
  }

  unprotectRtp(pkt: Uint8Array, len: number, hdrLen: number, ssrc: number, index: number, out: Uint8Array): number {
    const n = len - TAG;
    if (out.length < n) throw new BufferTooSmallError('srtp', n, out.length);
    writeU32(this.roc, 0, Math.floor(index / 0x1_0000));
    const tag = createHmac('sha1', this.rtp.authKey).update(pkt.subarray(0, n)).update(this.roc).digest();
    if (!timingSafeEqual(tag.subarray(0, TAG), pkt.subarray(n, len))) return SrtpDrop.AUTH_FAILED;
    aesCmIv(this.iv, this.rtp.salt, ssrc, index);
    const pt = createCipheriv('aes-128-ctr', this.rtp.encryptionKey, this.iv).update(pkt.subarray(hdrLen, n));
    if (out !== pkt) out.set(pkt.subarray(0, hdrLen), 0);
    out.set(pt, hdrLen);
    return n;
  }

  protectRtcp(pkt: Uint8Array, len: number, ssrc: number, index: number, out: Uint8Array): number {
    const total = len + SRTCP_INDEX_WORD + TAG;
    if (out.length < total) throw new BufferTooSmallError('srtcp', total, out.length);
    aesCmIv(this.iv, this.rtcp.salt, ssrc, index);
    const ct = createCipheriv('aes-128-ctr', this.rtcp.encryptionKey, this.iv).update(pkt.subarray(RTCP_HEADER, len));
    if (out !== pkt) out.set(pkt.subarray(0, RTCP_HEADER), 0);
    out.set(ct, RTCP_HEADER);
    writeU32(out, len, (E_FLAG | index) >>> 0);
    const tag = createHmac('sha1', this.rtcp.authKey).update(out.subarray(0, len + SRTCP_INDEX_WORD)).digest();
    out.set(tag.subarray(0, TAG), len + SRTCP_INDEX_WORD);
    return total;
  }

  srtcpIndexWord(pkt: Uint8Array, len: number): number {
    return readU32(pkt, len - TAG - SRTCP_INDEX_WORD);
  }

  unprotectRtcp(pkt: Uint8Array, len: number, ssrc: number, indexWord: number, out: Uint8Array): number {
    const tagAt = len - TAG;
    const n = tagAt - SRTCP_INDEX_WORD;
    if (out.length < n) throw new BufferTooSmallError('srtcp', n, out.length);
    const tag = createHmac('sha1', this.rtcp.authKey).update(pkt.subarray(0, tagAt)).digest();
    if (!timingSafeEqual(tag.subarray(0, TAG), pkt.subarray(tagAt, len))) return SrtpDrop.AUTH_FAILED;
    if (indexWord & E_FLAG) {
      aesCmIv(this.iv, this.rtcp.salt, ssrc, indexWord & 0x7fff_ffff);
      const pt = createCipheriv('aes-128-ctr', this.rtcp.encryptionKey, this.iv).update(pkt.subarray(RTCP_HEADER, n));
      if (out !== pkt) out.set(pkt.subarray(0, RTCP_HEADER), 0);
      out.set(pt, RTCP_HEADER);
    } else if (out !== pkt) {
      out.set(pkt.subarray(0, n), 0);
    }
    return n;
  }
}

/**
 * AEAD_AES_128_GCM packet transform (RFC 7714): AES-128-GCM with a 16-byte tag, for SRTP
 * (§8) and SRTCP (§9). Session keys come from the RFC 3711 PRF (kdf.ts, §11 of RFC 7714).
 *
 *   SRTP                                        SRTCP (E = 1)
 *   +--------------------------+                +------------------------------+
 *   | RTP header (+CSRC, ext)  | AAD            | first 8 bytes (header, SSRC) | AAD
 *   +--------------------------+                +------------------------------+
 *   | payload (+padding)       | encrypted      | rest of the compound packet  | encrypted
 *   +--------------------------+                +------------------------------+
 *   | tag (16 bytes)           |                | tag (16 bytes)               |
 *   +--------------------------+                +------------------------------+
 *                                               |E|     SRTCP index (31 bits)  | AAD too
 *                                               +------------------------------+
 *
 * IV, 12 bytes, XOR the 12-byte session salt:
 *   SRTP  (§8.1):  00 00 | SSRC | ROC | SEQ
 *   SRTCP (§9.1):  00 00 | SSRC | 00 00 | 0 + SRTCP index (31 bits)
 * With E = 0 (received only; we always encrypt) the whole packet is AAD (§9.2) and nothing is
 * encrypted. A tag that does not verify makes Node's final() throw: caught here and returned as
 * SrtpDrop.AUTH_FAILED (an exception per forged packet is the price of Node's API).
 * Runs on: net-send, `orbox receive`.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { BufferTooSmallError, SrtpDrop } from './errors.js';
import type { DerivedKeys, SessionKeys } from './kdf.js';
import { AEAD_AES_128_GCM, SRTCP_INDEX_WORD, type SrtpSuite } from './suites.js';
import type { SrtpTransform } from './transform.js';
import { readU32, writeU32 } from '../rtp/header.js';

const TAG = 16;
const RTCP_HEADER = 8;
const E_FLAG = 0x8000_0000;

/** RFC 7714 §8.1 / §9.1 IV into `iv` (12 bytes): 00 00 | ssrc | word1 (ROC or 0) | word2 XOR salt. */
function gcmIv(iv: Uint8Array, salt: Uint8Array, ssrc: number, hi: number, lo: number, loBytes: 2 | 4): void {
  iv.fill(0);
  writeU32(iv, 2, ssrc);
  if (loBytes === 2) {
    writeU32(iv, 6, hi);
    iv[10] = (lo >>> 8) & 0xff;
    iv[11] = lo & 0xff;
  } else {
    writeU32(iv, 8, lo);
  }
  for (let i = 0; i < 12; i++) iv[i] ^= salt[i];
}

export class AeadAes128GcmTransform implements SrtpTransform {
  readonly suite: SrtpSuite = AEAD_AES_128_GCM;
  private readonly rtp: SessionKeys;
  private readonly rtcp: SessionKeys;
  private readonly iv = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(RTCP_HEADER + SRTCP_INDEX_WORD);

  constructor(keys: DerivedKeys) {
    this.rtp = keys.rtp;
    this.rtcp = keys.rtcp;
  }

  protectRtp(pkt: Uint8Array, len: number, hdrLen: number, ssrc: number, index: number, out: Uint8Array): number {
    if (out.length < len + TAG) throw new BufferTooSmallError('srtp', len + TAG, out.length);
    gcmIv(this.iv, this.rtp.salt, ssrc, Math.floor(index / 0x1_0000), index % 0x1_0000, 2);
    const c = createCipheriv('aes-128-gcm', this.rtp.encryptionKey, this.iv, { authTagLength: TAG });
    c.setAAD(pkt.subarray(0, hdrLen));
    const ct = c.update(pkt.subarray(hdrLen, len));
    c.final();
    if (out !== pkt) out.set(pkt.subarray(0, hdrLen), 0);
    out.set(ct, hdrLen);
    out.set(c.getAuthTag(), len);
    return len + TAG;
  }

  unprotectRtp(pkt: Uint8Array, len: number, hdrLen: number, ssrc: number, index: number, out: Uint8Array): number {
    const n = len - TAG;
    if (out.length < n) throw new BufferTooSmallError('srtp', n, out.length);
    gcmIv(this.iv, this.rtp.salt, ssrc, Math.floor(index / 0x1_0000), index % 0x1_0000, 2);
    const d = createDecipheriv('aes-128-gcm', this.rtp.encryptionKey, this.iv, { authTagLength: TAG });
    d.setAAD(pkt.subarray(0, hdrLen));
    d.setAuthTag(pkt.subarray(n, len));
    const pt = d.update(pkt.subarray(hdrLen, n));
    try {
      d.final();
    } catch {
      return SrtpDrop.AUTH_FAILED;
    }
    if (out !== pkt) out.set(pkt.subarray(0, hdrLen), 0);
    out.set(pt, hdrLen);
    return n;
  }

  protectRtcp(pkt: Uint8Array, len: number, ssrc: number, index: number, out: Uint8Array): number {
    const total = len + TAG + SRTCP_INDEX_WORD;
    if (out.length < total) throw new BufferTooSmallError('srtcp', total, out.length);
    const word = (E_FLAG | index) >>> 0;
    gcmIv(this.iv, this.rtcp.salt, ssrc, 0, index, 4);
    this.aad.set(pkt.subarray(0, RTCP_HEADER), 0);
    writeU32(this.aad, RTCP_HEADER, word);
    const c = createCipheriv('aes-128-gcm', this.rtcp.encryptionKey, this.iv, { authTagLength: TAG });
    c.setAAD(this.aad);
    const ct = c.update(pkt.subarray(RTCP_HEADER, len));
    c.final();
    if (out !== pkt) out.set(pkt.subarray(0, RTCP_HEADER), 0);
    out.set(ct, RTCP_HEADER);
    out.set(c.getAuthTag(), len);
    writeU32(out, len + TAG, word);
    return total;
  }

  srtcpIndexWord(pkt: Uint8Array, len: number): number {
    return readU32(pkt, len - SRTCP_INDEX_WORD);
  }

  unprotectRtcp(pkt: Uint8Array, len: number, ssrc: number, indexWord: number, out: Uint8Array): number {
    const tagAt = len - SRTCP_INDEX_WORD - TAG;
    if (out.length < tagAt) throw new BufferTooSmallError('srtcp', tagAt, out.length);
    const encrypted = (indexWord & E_FLAG) !== 0;
    gcmIv(this.iv, this.rtcp.salt, ssrc, 0, indexWord & 0x7fff_ffff, 4);
    const d = createDecipheriv('aes-128-gcm', this.rtcp.encryptionKey, this.iv, { authTagLength: TAG });
    d.setAuthTag(pkt.subarray(tagAt, tagAt + TAG));
    let pt: Buffer | undefined;
    if (encrypted) {
      this.aad.set(pkt.subarray(0, RTCP_HEADER), 0);
      writeU32(this.aad, RTCP_HEADER, indexWord);
      d.setAAD(this.aad);
      pt = d.update(pkt.subarray(RTCP_HEADER, tagAt));
    } else {
      d.setAAD(pkt.subarray(0, tagAt));
      d.setAAD(pkt.subarray(len - SRTCP_INDEX_WORD, len));
    }
    try {
      d.final();
    } catch {
      return SrtpDrop.AUTH_FAILED;
    }
    if (pt) {
      if (out !== pkt) out.set(pkt.subarray(0, RTCP_HEADER), 0);
      out.set(pt, RTCP_HEADER);
    } else if (out !== pkt) {
      out.set(pkt.subarray(0, tagAt), 0);
    }
    return tagAt;
  }
}

/**
 * The SRTP protection profiles orbox speaks, and their sizes.
 *
 * | suite                   | spec                 | master key | master salt | session salt | tag |
 * |-------------------------|----------------------|-----------:|------------:|-------------:|----:|
 * | AES_CM_128_HMAC_SHA1_80 | RFC 3711 §4.1.1 §4.2, RFC 4568 §6.2.1 | 16 | 14 | 14 | 10 |
 * | AEAD_AES_128_GCM        | RFC 7714 §12, §14.2  |         16 |          12 |           12 |  16 |
 *
 * The name is the one SDES (RFC 4568) writes in `a=crypto`; `gstCipher`/`gstAuth` are the
 * values GStreamer's srtpenc/srtpdec take for the same suite.
 * Runs on: net-send, the `orbox receive` process (pure data).
 */

export type SrtpSuiteName = 'AES_CM_128_HMAC_SHA1_80' | 'AEAD_AES_128_GCM';

export interface SrtpSuite {
  name: SrtpSuiteName;
  masterKeyLength: number;
  masterSaltLength: number;
  /** Session encryption key, bytes. */
  sessionKeyLength: number;
  /** Session salt, bytes (14 for AES-CM, 12 for GCM). */
  sessionSaltLength: number;
  /** Session authentication key, bytes (0: the AEAD authenticates by itself). */
  sessionAuthKeyLength: number;
  /** Authentication tag appended to every packet, bytes. */
  tagLength: number;
  /** Bytes an RTP packet grows by when protected. */
  rtpOverhead: number;
  /** Bytes an RTCP compound packet grows by (E flag + SRTCP index, and the tag). */
  rtcpOverhead: number;
  gstCipher: 'aes-128-icm' | 'aes-128-gcm';
  gstAuth: 'hmac-sha1-80' | 'null';
}

/** SRTCP trailer word: E flag (1 bit) + SRTCP index (31 bits), RFC 3711 §3.4. */
export const SRTCP_INDEX_WORD = 4;

export const AES_CM_128_HMAC_SHA1_80: SrtpSuite = Object.freeze({
  name: 'AES_CM_128_HMAC_SHA1_80',
  masterKeyLength: 16, masterSaltLength: 14,
  sessionKeyLength: 16, sessionSaltLength: 14, sessionAuthKeyLength: 20,
  tagLength: 10, rtpOverhead: 10, rtcpOverhead: 10 + SRTCP_INDEX_WORD,
  gstCipher: 'aes-128-icm', gstAuth: 'hmac-sha1-80',
});

export const AEAD_AES_128_GCM: SrtpSuite = Object.freeze({
  name: 'AEAD_AES_128_GCM',
  masterKeyLength: 16, masterSaltLength: 12,
  sessionKeyLength: 16, sessionSaltLength: 12, sessionAuthKeyLength: 0,
  tagLength: 16, rtpOverhead: 16, rtcpOverhead: 16 + SRTCP_INDEX_WORD,
  gstCipher: 'aes-128-gcm', gstAuth: 'null',
});

export const SRTP_SUITES: readonly SrtpSuite[] = [AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM];

/** The suite of an SDES name, or undefined. */
export function suiteByName(name: string): SrtpSuite | undefined {
  return SRTP_SUITES.find((s) => s.name === name);
}

/** One direction's keying: what SDES carries (RFC 4568 `inline:` key || salt). */
export interface SrtpKeying {
  suite: SrtpSuite;
  masterKey: Uint8Array;
  masterSalt: Uint8Array;
}

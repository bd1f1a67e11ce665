/**
 * SRTP key derivation (RFC 3711 §4.3, AES-CM PRF §4.3.3) with key_derivation_rate 0, and the
 * same PRF for AEAD_AES_128_GCM (RFC 7714 §11, 12-byte master salt).
 *
 * Owns: turning one direction's master key + master salt into the six session keys.
 *
 *   x   = master_salt XOR (label << 48)          (14 bytes; index DIV kdr = 0 since kdr = 0)
 *   key = AES-CM(master_key, IV = x * 2^16)      (keystream of the length asked for)
 *
 *    label | session key                   label | session key
 *    0x00  | SRTP encryption key k_e       0x03  | SRTCP encryption key
 *    0x01  | SRTP authentication key k_a   0x04  | SRTCP authentication key
 *    0x02  | SRTP salt k_s                 0x05  | SRTCP salt
 *
 * A 12-byte (GCM) master salt is padded on the right with two zero bytes to the 14 bytes of x,
 * as libsrtp does (its reference GCM packets are reproduced this way in test/kdf.test.ts).
 * kdr 0 means the session keys never change during a master key's life: SDES does not signal
 * a KDR by default and RFC 4568 §6.3 recommends none.
 * Node's aes-128-ctr is the AES-CM keystream (same 128-bit big-endian counter, RFC 3711 §4.1.1).
 * Runs on: net-send, `orbox receive`, once per key (allocates; never on the packet path).
 */
import { createCipheriv } from 'node:crypto';
import { SrtpOptionError } from './errors.js';
import type { SrtpKeying, SrtpSuite } from './suites.js';

export const LABEL_RTP_ENCRYPTION = 0x00;
export const LABEL_RTP_AUTH = 0x01;
export const LABEL_RTP_SALT = 0x02;
export const LABEL_RTCP_ENCRYPTION = 0x03;
export const LABEL_RTCP_AUTH = 0x04;
export const LABEL_RTCP_SALT = 0x05;

/** The keys of one packet kind (RTP or RTCP) of one direction. */
export interface SessionKeys {
  encryptionKey: Buffer;
  /** Empty for an AEAD suite. */
  authKey: Buffer;
  salt: Buffer;
}

export interface DerivedKeys {
  rtp: SessionKeys;
  rtcp: SessionKeys;
}

/** The AES-CM keystream of `length` bytes starting at the 128-bit counter `iv`. */
export function aesCmKeystream(key: Uint8Array, iv: Uint8Array, length: number): Buffer {
  const c = createCipheriv('aes-128-ctr', key, iv);
  return Buffer.concat([c.update(Buffer.alloc(length)), c.final()]);
}

/**
 * The AES-CM PRF of RFC 3711 §4.3.3 with kdr 0: `length` bytes of session key for `label`.
 * @param masterSalt 14 bytes (AES-CM suites) or 12 (GCM, zero-padded to 14).
 */
export function deriveSessionKey(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, length: number): Buffer {
  if (masterKey.length !== 16) throw new SrtpOptionError('masterKey', `${masterKey.length} bytes, expected 16`);
  if (masterSalt.length !== 14 && masterSalt.length !== 12) {
    throw new SrtpOptionError('masterSalt', `${masterSalt.length} bytes, expected 14 or 12`);
  }
  const iv = Buffer.alloc(16);
  iv.set(masterSalt, 0);
  iv[7] ^= label;
  return aesCmKeystream(masterKey, iv, length);
}

/** All six session keys of one direction. @throws SrtpOptionError for a key or salt of the wrong length. */
export function deriveKeys(k: SrtpKeying): DerivedKeys {
  const s: SrtpSuite = k.suite;
  if (k.masterKey.length !== s.masterKeyLength) {
    throw new SrtpOptionError('masterKey', `${k.masterKey.length} bytes, ${s.name} needs ${s.masterKeyLength}`);
  }
  if (k.masterSalt.length !== s.masterSaltLength) {
    throw new SrtpOptionError('masterSalt', `${k.masterSalt.length} bytes, ${s.name} needs ${s.masterSaltLength}`);
  }
  const kind = (enc: number, auth: number, salt: number): SessionKeys => ({
    encryptionKey: deriveSessionKey(k.masterKey, k.masterSalt, enc, s.sessionKeyLength),
    authKey: s.sessionAuthKeyLength ? deriveSessionKey(k.masterKey, k.masterSalt, auth, s.sessionAuthKeyLength) : Buffer.alloc(0),
    salt: deriveSessionKey(k.masterKey, k.masterSalt, salt, s.sessionSaltLength),
  });
  return {
    rtp: kind(LABEL_RTP_ENCRYPTION, LABEL_RTP_AUTH, LABEL_RTP_SALT),
    rtcp: kind(LABEL_RTCP_ENCRYPTION, LABEL_RTCP_AUTH, LABEL_RTCP_SALT),
  };
}

/**
 * SRTP for the uplink and `orbox receive`: RFC 3711 (AES_CM_128_HMAC_SHA1_80), RFC 7714
 * (AEAD_AES_128_GCM), SDES keying (RFC 4568), and the interceptor unit that applies them.
 * See README.md for the spec -> module -> test map.
 */
export * from './errors.js';
export * from './suites.js';
export * from './kdf.js';
export * from './packet-index.js';
export * from './replay.js';
export type { SrtpTransform } from './transform.js';
export * from './aes-cm.js';
export * from './aes-gcm.js';
export * from './context.js';
export * from './sdes.js';
export * from './interceptor.js';

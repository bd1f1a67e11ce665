/**
 * Known-answer tests: every vector below is copied (bytes only) from the source it cites.
 */
import t from 'tap';
import { createHmac } from 'node:crypto';
import { aesCmKeystream, deriveKeys, deriveSessionKey, type DerivedKeys } from '../kdf.js';
import { aesCmIv, AesCmHmacSha1Transform } from '../aes-cm.js';
import { AeadAes128GcmTransform } from '../aes-gcm.js';
import { SrtpReceiver, SrtpSender } from '../context.js';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80 } from '../suites.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

t.test('RFC 3711 B.2: AES-CM keystream for session key 2B7E..., salt F0F1...FCFD, SSRC 0, index 0', async (t) => {
  const iv = Buffer.alloc(16);
  aesCmIv(iv, hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD'), 0, 0);
  t.same(iv, hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000'), 'IV is the shifted salt');
  const ks = aesCmKeystream(hex('2B7E151628AED2A6ABF7158809CF4F3C'), iv, 65282 * 16);
  t.same(ks.subarray(0, 48), hex('E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB 41E95B3BB0A2E8DD477901E4FCA894C0'));
  t.same(ks.subarray(0xfeff * 16, 0xff02 * 16), hex('EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE 6A2CC3787889374FBEB4C81B17BA6C44'));
});

t.test('RFC 3711 §4.1.1: the IV places SSRC at bytes 4..7 and the 48-bit index at 8..13', async (t) => {
  const iv = Buffer.alloc(16);
  aesCmIv(iv, Buffer.alloc(14), 0x01020304, 0x5566_7788_99aa);
  t.same(iv, hex('00000000 01020304 5566778899aa 0000'));
});

t.test('RFC 3711 B.3: key derivation of master key E1F9..., master salt 0EC6...', async (t) => {
  const mk = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
  const ms = hex('0EC675AD498AFEEBB6960B3AABE6');
  t.same(deriveSessionKey(mk, ms, 0x00, 16), hex('C61E7A93744F39EE10734AFE3FF7A087'), 'cipher key');
  t.same(deriveSessionKey(mk, ms, 0x02, 14), hex('30CBBC08863D8C85D49DB34A9AE1'), 'cipher salt');
  t.same(deriveSessionKey(mk, ms, 0x01, 94), hex(`CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
    E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2`), '94-byte auth key');
  const k = deriveKeys({ suite: AES_CM_128_HMAC_SHA1_80, masterKey: mk, masterSalt: ms });
  t.same(k.rtp.authKey, hex('CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4'), 'the suite takes the first 20 bytes');
  t.throws(() => deriveKeys({ suite: AES_CM_128_HMAC_SHA1_80, masterKey: mk, masterSalt: ms.subarray(0, 12) }), /masterSalt: 12 bytes, AES_CM_128_HMAC_SHA1_80 needs 14/);
});

// libsrtp test/srtp_driver.c, srtp_validate(): default policy (AES_CM_128_HMAC_SHA1_80 for RTP
// and RTCP), SSRC 0xcafebabe, key test_key (30 bytes: the RFC 3711 B.3 master key and salt).
const LIBSRTP_KEY = hex('e1f97a0d3e018be0d64fa32c06de4139 0ec675ad498afeebb6960b3aabe6');
const LIBSRTP_RTP = hex('800f1234decafbadcafebabe abababababababababababababababab');
const LIBSRTP_SRTP = hex(`800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb`);
const LIBSRTP_RTCP = hex('81c8000bcafebabe abababababababababababababababab');
const LIBSRTP_SRTCP = hex(`81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798`);

t.test('libsrtp srtp_validate(): reference SRTP and SRTCP packets, both ways', async (t) => {
  const keying = { suite: AES_CM_128_HMAC_SHA1_80, masterKey: LIBSRTP_KEY.subarray(0, 16), masterSalt: LIBSRTP_KEY.subarray(16) };
  const tx = new SrtpSender(keying);
  const out = Buffer.alloc(64);
  t.same(out.subarray(0, tx.protectRtp(LIBSRTP_RTP, LIBSRTP_RTP.length, out)), LIBSRTP_SRTP);
  t.same(out.subarray(0, tx.protectRtcp(LIBSRTP_RTCP, LIBSRTP_RTCP.length, out)), LIBSRTP_SRTCP, 'first SRTCP index is 1, as libsrtp');
  const rx = new SrtpReceiver(keying);
  t.same(out.subarray(0, rx.unprotectRtp(LIBSRTP_SRTP, LIBSRTP_SRTP.length, out)), LIBSRTP_RTP);
  t.same(out.subarray(0, rx.unprotectRtcp(LIBSRTP_SRTCP, LIBSRTP_SRTCP.length, out)), LIBSRTP_RTCP);
  // In place: the packet buffer is also the output.
  const inPlace = Buffer.alloc(64);
  LIBSRTP_SRTP.copy(inPlace);
  const rx2 = new SrtpReceiver(keying);
  t.same(inPlace.subarray(0, rx2.unprotectRtp(inPlace, LIBSRTP_SRTP.length, inPlace)), LIBSRTP_RTP, 'in place');
});

// libsrtp test/srtp_driver.c, srtp_validate_gcm(): AEAD_AES_128_GCM (srtp_crypto_policy_set_aes_gcm_128_16_auth)
// for RTP and RTCP, SSRC 0xcafebabe, key test_key_gcm (16-byte key, 12-byte salt), through the KDF.
const LIBSRTP_GCM_KEY = hex('000102030405060708090a0b0c0d0e0f a0a1a2a3a4a5a6a7a8a9aaab');
const LIBSRTP_GCM_SRTP = hex(`800f1234decafbadcafebabe c5002ede04cfdd2eb91159e0880aa06e d2976826f796b201df3131a127e8a392`);
const LIBSRTP_GCM_SRTCP = hex(`81c8000bcafebabe c98b8b5df0392a55852b6c21ac8e7025 c52c6fbea2b3b446ea31123ba88ce61e 80000001`);

t.test('libsrtp srtp_validate_gcm(): reference AEAD_AES_128_GCM packets (KDF with a 12-byte salt), both ways', async (t) => {
  const keying = { suite: AEAD_AES_128_GCM, masterKey: LIBSRTP_GCM_KEY.subarray(0, 16), masterSalt: LIBSRTP_GCM_KEY.subarray(16) };
  const tx = new SrtpSender(keying);
  const out = Buffer.alloc(64);
  t.same(out.subarray(0, tx.protectRtp(LIBSRTP_RTP, LIBSRTP_RTP.length, out)), LIBSRTP_GCM_SRTP);
  t.same(out.subarray(0, tx.protectRtcp(LIBSRTP_RTCP, LIBSRTP_RTCP.length, out)), LIBSRTP_GCM_SRTCP);
  const rx = new SrtpReceiver(keying);
  t.same(out.subarray(0, rx.unprotectRtp(LIBSRTP_GCM_SRTP, LIBSRTP_GCM_SRTP.length, out)), LIBSRTP_RTP);
  t.same(out.subarray(0, rx.unprotectRtcp(LIBSRTP_GCM_SRTCP, LIBSRTP_GCM_SRTCP.length, out)), LIBSRTP_RTCP);
});

// RFC 7714 §16.1.1 (SRTP) and §17.1, §17.3 (SRTCP): session key and salt given directly (no KDF).
const RFC7714_KEYS: DerivedKeys = {
  rtp: { encryptionKey: hex('000102030405060708090a0b0c0d0e0f'), authKey: Buffer.alloc(0), salt: hex('517569642070726f2071756f') },
  rtcp: { encryptionKey: hex('000102030405060708090a0b0c0d0e0f'), authKey: Buffer.alloc(0), salt: hex('517569642070726f2071756f') },
};
const RFC7714_RTP = hex(`8040f17b8041f8d35501a0b2 47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573`);
const RFC7714_SRTP = hex(`8040f17b8041f8d35501a0b2 f24de3a3fb34de6cacba861c9d7e4bcabe633bd50d294e6f42a5f47a51c7d19b36de3adf8833
  899d7f27beb16a9152cf765ee4390cce`);
const RFC7714_RTCP = hex(`81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61 deadbeefdeadbeefdeadbeefdeadbeefdeadbeef`);
const RFC7714_SRTCP = hex(`81c8000d4d617273 63e94885dcdab67ca727d7662f6b7e997ff5c0f76c06f32dc676a5f1730d6fda4ce09b4686303ded0bb9275b
  c84aa45896cf4d2fc5abf87245d9eade 800005d4`);
const RFC7714_SRTCP_TAG_ONLY = hex(`81c8000d4d6172734e5450314e545032525450200000042a0000e9304c756e61deadbeefdeadbeefdeadbeefdeadbeefdeadbeef
  841dd9683dd78ec92ae58790125f62b3 000005d4`);

t.test('RFC 7714 §16.1.1 and §17.1: AEAD_AES_128_GCM packets; §17.3 tagged-only SRTCP (E = 0) is accepted', async (t) => {
  const gcm = new AeadAes128GcmTransform(RFC7714_KEYS);
  const out = Buffer.alloc(128);
  t.same(out.subarray(0, gcm.protectRtp(RFC7714_RTP, RFC7714_RTP.length, 12, 0x5501a0b2, 0xf17b, out)), RFC7714_SRTP);
  t.same(out.subarray(0, gcm.unprotectRtp(RFC7714_SRTP, RFC7714_SRTP.length, 12, 0x5501a0b2, 0xf17b, out)), RFC7714_RTP);
  t.same(out.subarray(0, gcm.protectRtcp(RFC7714_RTCP, RFC7714_RTCP.length, 0x4d617273, 0x5d4, out)), RFC7714_SRTCP);
  const w = gcm.srtcpIndexWord(RFC7714_SRTCP, RFC7714_SRTCP.length);
  t.equal(w, 0x800005d4);
  t.same(out.subarray(0, gcm.unprotectRtcp(RFC7714_SRTCP, RFC7714_SRTCP.length, 0x4d617273, w, out)), RFC7714_RTCP);
  const w0 = gcm.srtcpIndexWord(RFC7714_SRTCP_TAG_ONLY, RFC7714_SRTCP_TAG_ONLY.length);
  t.equal(w0, 0x5d4);
  t.same(out.subarray(0, gcm.unprotectRtcp(RFC7714_SRTCP_TAG_ONLY, RFC7714_SRTCP_TAG_ONLY.length, 0x4d617273, w0, out)), RFC7714_RTCP);
  const bad = Buffer.from(RFC7714_SRTP);
  bad[20] ^= 1;
  t.equal(gcm.unprotectRtp(bad, bad.length, 12, 0x5501a0b2, 0xf17b, out), -2, 'a flipped bit fails the GCM tag');
  t.equal(gcm.unprotectRtp(RFC7714_SRTP, RFC7714_SRTP.length, 12, 0x5501a0b2, 0x1f17b, out), -2, 'the wrong ROC fails the tag');
});

t.test('AES-CM SRTCP with E = 0 (RFC 3711 §3.4): authenticated, not encrypted, returned as is; flipping E fails the tag', async (t) => {
  const keys = deriveKeys({ suite: AES_CM_128_HMAC_SHA1_80, masterKey: LIBSRTP_KEY.subarray(0, 16), masterSalt: LIBSRTP_KEY.subarray(16) });
  const cm = new AesCmHmacSha1Transform(keys);
  const clear = Buffer.concat([LIBSRTP_RTCP, hex('00000007')]);
  const pkt = Buffer.concat([clear, createHmac('sha1', keys.rtcp.authKey).update(clear).digest().subarray(0, 10)]);
  const out = Buffer.alloc(64);
  const w = cm.srtcpIndexWord(pkt, pkt.length);
  t.equal(w, 7);
  t.same(out.subarray(0, cm.unprotectRtcp(pkt, pkt.length, 0xcafebabe, w, out)), LIBSRTP_RTCP);
  const flipped = Buffer.from(LIBSRTP_SRTCP);
  flipped[24] ^= 0x80;
  t.equal(new SrtpReceiver({ suite: AES_CM_128_HMAC_SHA1_80, masterKey: LIBSRTP_KEY.subarray(0, 16), masterSalt: LIBSRTP_KEY.subarray(16) })
    .unprotectRtcp(flipped, flipped.length, out), -2);
});

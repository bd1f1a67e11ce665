/**
 * SDES `a=crypto` (RFC 4568 §9.1): a case table drives parse; errors name the field and offset.
 */
import t from 'tap';
import { formatCryptoAttribute, generateKeying, parseCryptoAttribute } from '../sdes.js';
import { AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80 } from '../suites.js';
import { SdesError } from '../errors.js';

// RFC 4568 §9.1's example key (the base64 text is the RFC's, 30 bytes).
const RFC_B64 = 'WVNfX19zZW1jdGwgKCkgewkyMjA3fQp9CnVubGVz';
const RFC_RAW = Buffer.from(RFC_B64, 'base64');

t.test('parses the RFC 4568 example line, with lifetime, CRLF and without "a="', async (t) => {
  const c = parseCryptoAttribute(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${RFC_B64}|2^20\r\n`);
  t.equal(c.tag, 1);
  t.equal(c.suite, AES_CM_128_HMAC_SHA1_80);
  t.same(Buffer.from(c.masterKey), RFC_RAW.subarray(0, 16));
  t.same(Buffer.from(c.masterSalt), RFC_RAW.subarray(16));
  t.equal(c.lifetime, 2 ** 20);
  t.equal(parseCryptoAttribute(`crypto:7 AES_CM_128_HMAC_SHA1_80 inline:${RFC_B64}|1000`).lifetime, 1000);
  t.equal(parseCryptoAttribute(`a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${RFC_B64}`).lifetime, undefined);
});

t.test('format and parse round-trip for both suites; fresh keys come from the injected random', async (t) => {
  for (const suite of [AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM]) {
    let calls = 0;
    const k = generateKeying(suite, (n) => { calls++; return Uint8Array.from({ length: n }, (_, i) => i * 7); });
    t.equal(calls, 1);
    t.equal(k.masterKey.length, 16);
    t.equal(k.masterSalt.length, suite.masterSaltLength);
    const line = formatCryptoAttribute({ tag: 3, ...k, lifetime: 2 ** 31 });
    t.match(line, new RegExp(`^a=crypto:3 ${suite.name} inline:[A-Za-z0-9+/=]{40}\\|2\\^31$`));
    const back = parseCryptoAttribute(line);
    t.same([back.tag, back.suite.name, Buffer.from(back.masterKey), Buffer.from(back.masterSalt), back.lifetime],
      [3, suite.name, Buffer.from(k.masterKey), Buffer.from(k.masterSalt), 2 ** 31]);
  }
  const a = generateKeying(AES_CM_128_HMAC_SHA1_80);
  const b = generateKeying(AES_CM_128_HMAC_SHA1_80);
  t.not(Buffer.from(a.masterKey).toString('hex'), Buffer.from(b.masterKey).toString('hex'), 'default random gives distinct keys');
  t.equal(formatCryptoAttribute({ tag: 1, ...a, lifetime: 1000 }).endsWith('|1000'), true);
});

const BAD: [string, string, string, number][] = [
  // [line, field, message part, offset]
  ['a=rtpmap:96 H264/90000', 'attribute', 'expected "a=crypto:"', 0],
  ['a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:' + RFC_B64, 'tag', 'expected 1 to 9 digits', 9],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:' + RFC_B64, 'suite', 'unknown suite AES_CM_128_HMAC_SHA1_32', 11],
  ['a=crypto:1 F8_128_HMAC_SHA1_80 inline:' + RFC_B64, 'suite', 'unknown suite F8_128_HMAC_SHA1_80', 11],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80', 'key-method', 'missing key-params', 34],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 uri:http://x', 'key-method', 'expected "inline:"', 35],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:' + RFC_B64.slice(0, 36) + '!!!!', 'key', 'not base64', 42],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:' + RFC_B64.slice(0, 39), 'key', 'not base64', 42],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:' + Buffer.alloc(28).toString('base64'), 'key', '28 bytes of key||salt, AES_CM_128_HMAC_SHA1_80 needs 30', 42],
  ['a=crypto:1 AEAD_AES_128_GCM inline:' + RFC_B64, 'key', '30 bytes of key||salt, AEAD_AES_128_GCM needs 28', 35],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:' + RFC_B64 + '|2^20|1:4', 'mki', 'MKI 1:4 is not supported', 88],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:' + RFC_B64 + '|1:4', 'mki', 'MKI 1:4 is not supported', 83],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:' + RFC_B64 + '|2^49', 'lifetime', 'up to 2^48', 83],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:' + RFC_B64 + '|forever', 'lifetime', 'got "forever"', 83],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:' + RFC_B64 + ';inline:' + RFC_B64, 'key-method', 'several key-params', 82],
  ['a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:' + RFC_B64 + ' UNENCRYPTED_SRTP', 'session-param', 'UNENCRYPTED_SRTP is not supported', 83],
];

t.test('each unusable line throws an SdesError naming the field, with the offset', async (t) => {
  for (const [line, field, msg, offset] of BAD) {
    try {
      parseCryptoAttribute(line);
      t.fail(`accepted: ${line}`);
    } catch (e) {
      t.ok(e instanceof SdesError, line);
      const err = e as SdesError;
      t.same([err.field, err.offset], [field, offset], line);
      t.match(err.message, msg);
    }
  }
  t.throws(() => formatCryptoAttribute({ tag: 1, suite: AEAD_AES_128_GCM, masterKey: new Uint8Array(16), masterSalt: new Uint8Array(14) }), /needs 16 \+ 12/);
});

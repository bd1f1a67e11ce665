/**
 * SDES keying (RFC 4568): the `a=crypto` attribute that carries one direction's master key and
 * salt in SDP, for the suites of suites.ts.
 *
 *   a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]
 *   key-params = inline:<base64(master key || master salt)>[|<lifetime>][|<MKI>:<MKI length>]
 *   lifetime   = decimal packet count, or 2^<n>
 *
 *   a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20
 *
 * What we accept: one key-param (RFC 4568 §6.1 allows several, with MKIs, for rekeying), no MKI,
 * no session parameters (KDR, UNENCRYPTED_SRTP, ... would change what the context does). Each
 * refusal is an SdesError naming the field and the character offset. Keys are fresh from
 * `crypto.randomBytes` (injectable so a test pins them). Keys travel in the SDP, so the SDP
 * channel must be confidential (TLS): the caller's job.
 * Runs on: control / net-send (uplink set-up), `orbox receive` (parsing the SDP file).
 */
import { randomBytes } from 'node:crypto';
import { SdesError } from './errors.js';
import { suiteByName, type SrtpKeying, type SrtpSuite } from './suites.js';

/** One parsed `a=crypto` line. */
export interface SdesCrypto extends SrtpKeying {
  /** 1..999999999 (RFC 4568 §9.1: up to 9 digits). */
  tag: number;
  /** Master key lifetime in packets, when the line gives one. */
  lifetime?: number;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Parses an `a=crypto` attribute (with or without the leading `a=`, trailing CR/LF ignored).
 * @throws SdesError naming what is wrong: the attribute name, tag, unknown suite, key method,
 *   bad base64, key length for the suite, lifetime, MKI (unsupported), session parameters.
 */
export function parseCryptoAttribute(line: string): SdesCrypto {
  const text = line.replace(/\r?\n$/, '');
  const prefix = text.startsWith('a=crypto:') ? 9 : text.startsWith('crypto:') ? 7 : -1;
  if (prefix < 0) throw new SdesError('attribute', 0, `expected "a=crypto:", got ${JSON.stringify(text.slice(0, 12))}`);
  const fields: { s: string; at: number }[] = [];
  const re = /\S+/g;
  re.lastIndex = prefix;
  for (let m = re.exec(text); m; m = re.exec(text)) fields.push({ s: m[0], at: m.index });
  const [tagF, suiteF, keyF, ...session] = fields;
  if (!tagF || !/^\d{1,9}$/.test(tagF.s)) throw new SdesError('tag', prefix, `expected 1 to 9 digits, got ${JSON.stringify(tagF?.s ?? '')}`);
  if (!suiteF) throw new SdesError('suite', text.length, 'missing');
  const suite = suiteByName(suiteF.s);
  if (!suite) throw new SdesError('suite', suiteF.at, `unknown suite ${suiteF.s} (supported: AES_CM_128_HMAC_SHA1_80, AEAD_AES_128_GCM)`);
  if (!keyF) throw new SdesError('key-method', text.length, 'missing key-params');
  if (keyF.s.includes(';')) throw new SdesError('key-method', keyF.at + keyF.s.indexOf(';'), 'several key-params (MKI rekeying) are not supported');
  if (!keyF.s.startsWith('inline:')) throw new SdesError('key-method', keyF.at, `expected "inline:", got ${JSON.stringify(keyF.s.split(':')[0])}`);
  if (session.length) throw new SdesError('session-param', session[0]!.at, `session parameter ${session[0]!.s} is not supported`);

  const parts = keyF.s.slice(7).split('|');
  let at = keyF.at + 7;
  const b64 = parts[0]!;
  if (!B64.test(b64) || b64.length % 4 !== 0) throw new SdesError('key', at, 'not base64');
  const raw = Buffer.from(b64, 'base64');
  const want = suite.masterKeyLength + suite.masterSaltLength;
  if (raw.length !== want) throw new SdesError('key', at, `${raw.length} bytes of key||salt, ${suite.name} needs ${want}`);
  at += b64.length + 1;
  let lifetime: number | undefined;
  for (let i = 1; i < parts.length; i++) {
    const p = parts[i]!;
    if (p.includes(':')) throw new SdesError('mki', at, `MKI ${p} is not supported`);
    if (i > 1 || lifetime !== undefined) throw new SdesError('lifetime', at, `unexpected ${JSON.stringify(p)}`);
    lifetime = parseLifetime(p, at);
    at += p.length + 1;
  }
  return {
    tag: Number(tagF.s), suite,
    masterKey: Uint8Array.from(raw.subarray(0, suite.masterKeyLength)),
    masterSalt: Uint8Array.from(raw.subarray(suite.masterKeyLength)),
    ...(lifetime !== undefined ? { lifetime } : {}),
  };
}

function parseLifetime(p: string, at: number): number {
  const m = /^(?:2\^(\d{1,2})|(\d{1,15}))$/.exec(p);
  const v = m ? (m[1] !== undefined ? 2 ** Number(m[1]) : Number(m[2])) : NaN;
  // RFC 3711 §9.2: at most 2^48 SRTP packets (2^31 SRTCP) per master key.
  if (!(v >= 1 && v <= 2 ** 48)) throw new SdesError('lifetime', at, `expected a count or 2^n up to 2^48, got ${JSON.stringify(p)}`);
  return v;
}

/**
 * Formats an `a=crypto:` line (no CRLF). `lifetime` is written as 2^n when it is a power of two.
 * @throws SdesError for a tag out of range or a key/salt of the wrong length for the suite.
 */
export function formatCryptoAttribute(c: SdesCrypto): string {
  if (!Number.isInteger(c.tag) || c.tag < 0 || c.tag > 999_999_999) throw new SdesError('tag', 0, `out of range: ${c.tag}`);
  if (c.masterKey.length !== c.suite.masterKeyLength || c.masterSalt.length !== c.suite.masterSaltLength) {
    throw new SdesError('key', 0, `key ${c.masterKey.length} + salt ${c.masterSalt.length} bytes, ${c.suite.name} needs ${c.suite.masterKeyLength} + ${c.suite.masterSaltLength}`);
  }
  const b64 = Buffer.concat([c.masterKey, c.masterSalt]).toString('base64');
  let life = '';
  if (c.lifetime !== undefined) {
    const log = Math.log2(c.lifetime);
    life = '|' + (Number.isInteger(log) ? `2^${log}` : String(c.lifetime));
  }
  return `a=crypto:${c.tag} ${c.suite.name} inline:${b64}${life}`;
}

/** Fresh keying for `suite`: master key and salt from `random` (default crypto.randomBytes). */
export function generateKeying(suite: SrtpSuite, random: (n: number) => Uint8Array = randomBytes): SrtpKeying {
  const raw = random(suite.masterKeyLength + suite.masterSaltLength);
  return {
    suite,
    masterKey: Uint8Array.from(raw.subarray(0, suite.masterKeyLength)),
    masterSalt: Uint8Array.from(raw.subarray(suite.masterKeyLength)),
  };
}

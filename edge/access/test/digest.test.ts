/**
 * RTSP/HTTP Digest server (digest.ts): the RFC 2617 §3.5 vector (qop=auth), the RFC 2069 form
 * without qop (GStreamer rtspsrc, VLC), replayed nc values, stale and foreign nonces, a
 * digest-uri for another stream, and the HA1s the account store keeps per realm.
 */
import t from 'tap';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccountStore, DigestServer, digestHa1, md5, parseDigestAuthorization, readDigestAccounts } from '../index.js';

// RFC 2617 §3.5 (the RFC's text says "Circle Of Life"; its errata's response for that password).
const RFC = {
  user: 'Mufasa', password: 'Circle Of Life', realm: 'testrealm@host.com', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093',
  uri: '/dir/index.html', nc: '00000001', cnonce: '0a4f113b', response: '6629fae49393a05397450978507c4ef1',
};

/** What a client sends: with qop (ffmpeg) or without (RFC 2069: rtspsrc, VLC). */
function authorization(o: { user: string; password: string; realm: string; nonce: string; method: string; uri: string; nc?: string; cnonce?: string }): string {
  const ha1 = digestHa1(o.user, o.realm, o.password);
  const ha2 = md5(`${o.method}:${o.uri}`);
  if (o.nc) {
    const r = md5(`${ha1}:${o.nonce}:${o.nc}:${o.cnonce}:auth:${ha2}`);
    return `Digest username="${o.user}", realm="${o.realm}", nonce="${o.nonce}", uri="${o.uri}", algorithm=MD5, qop=auth, nc=${o.nc}, cnonce="${o.cnonce}", response="${r}"`;
  }
  return `Digest username="${o.user}", realm="${o.realm}", nonce="${o.nonce}", uri="${o.uri}", response="${md5(`${ha1}:${o.nonce}:${ha2}`)}"`;
}

const nonceOf = (challenge: string): string => /nonce="([^"]+)"/.exec(challenge)![1]!;

t.test('RFC 2617 §3.5: HA1, HA2 and the response of the example', async (t) => {
  const header = authorization({ ...RFC, method: 'GET' }); // with its nc and cnonce: qop=auth
  t.match(header, `response="${RFC.response}"`, 'the response of RFC 2617 §3.5');
  const p = parseDigestAuthorization(`Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"`);
  t.same(p, { username: 'Mufasa', realm: 'testrealm@host.com', nonce: RFC.nonce, uri: RFC.uri, qop: 'auth', nc: '00000001', cnonce: '0a4f113b', response: RFC.response, opaque: '5ccc069c403ebaf9f0171e9517f40e41' }, 'the RFC\'s header parsed');
  t.equal(parseDigestAuthorization('Basic TXVmYXNhOkNpcmNsZQ=='), null, 'Basic is not Digest');
  t.equal(parseDigestAuthorization('Digest username="a'), null, 'an unterminated quote is not a header');
  t.same(parseDigestAuthorization('Digest username="a\\"b", realm=r'), { username: 'a"b', realm: 'r' }, 'quoted-pair unescaped');
});

t.test('a server challenge answered with qop=auth (ffmpeg) and without (rtspsrc)', async (t) => {
  let now = 1_000_000;
  const s = new DigestServer({ realm: RFC.realm, now: () => now, nonceTtlMs: 60_000 });
  const ha1 = digestHa1(RFC.user, RFC.realm, RFC.password);
  const lookup = (u: string) => (u === RFC.user ? ha1 : undefined);
  const url = 'rtsp://127.0.0.1:8554/endoscope/hq';
  const ch = s.challenge('10.0.0.5');
  t.match(ch, /^Digest realm="testrealm@host\.com", nonce="[A-Za-z0-9_-]+", algorithm=MD5, qop="auth"$/, 'the WWW-Authenticate value');
  const nonce = nonceOf(ch);
  const base = { user: RFC.user, password: RFC.password, realm: RFC.realm, nonce, method: 'DESCRIBE', uri: url };

  t.same(s.check('DESCRIBE', url, undefined, '10.0.0.5', lookup), { ok: false, reason: 'missing' });
  t.same(s.check('DESCRIBE', url, authorization({ ...base, nc: '00000001', cnonce: 'abc' }), '10.0.0.5', lookup), { ok: true, user: 'Mufasa' }, 'qop=auth accepted');
  t.same(s.check('DESCRIBE', url, authorization({ ...base, nc: '00000001', cnonce: 'abc' }), '10.0.0.5', lookup), { ok: false, reason: 'replay', user: 'Mufasa' }, 'the same nc again: a replay');
  t.same(s.check('SETUP', `${url}/streamid=0`, authorization({ ...base, method: 'SETUP', uri: `${url}/streamid=0`, nc: '00000002', cnonce: 'abc' }), '10.0.0.5', lookup), { ok: true, user: 'Mufasa' }, 'the next nc accepted');
  t.same(s.check('PLAY', url, authorization({ ...base, method: 'PLAY', nc: '00000002', cnonce: 'abc' }), '10.0.0.5', lookup), { ok: false, reason: 'replay', user: 'Mufasa' }, 'an nc lower than or equal to the last: a replay');

  t.same(s.check('DESCRIBE', url, authorization(base), '10.0.0.5', lookup), { ok: true, user: 'Mufasa' }, 'RFC 2069 (no qop) accepted');
  t.same(s.check('DESCRIBE', url, authorization(base), '10.0.0.5', lookup), { ok: true, user: 'Mufasa' }, 'RFC 2069 has no nc: the same request again passes (documented cost)');
  t.same(s.check('DESCRIBE', url, authorization({ ...base, uri: '/endoscope/hq' }), '10.0.0.5', lookup), { ok: true, user: 'Mufasa' }, 'a digest-uri that is the path alone');

  t.same(s.check('DESCRIBE', url, authorization({ ...base, password: 'Circle of Life' }), '10.0.0.5', lookup), { ok: false, reason: 'bad-response', user: 'Mufasa' }, 'a wrong password');
  t.same(s.check('DESCRIBE', url, authorization({ ...base, user: 'Scar' }), '10.0.0.5', lookup), { ok: false, reason: 'unknown-user', user: 'Scar' }, 'an unknown user');
  t.same(s.check('DESCRIBE', 'rtsp://127.0.0.1:8554/theatre/hq', authorization(base), '10.0.0.5', lookup), { ok: false, reason: 'wrong-uri', user: 'Mufasa' }, 'a response made for another stream');
  t.same(s.check('DESCRIBE', url, authorization({ ...base, realm: 'other' }), '10.0.0.5', lookup), { ok: false, reason: 'malformed', user: 'Mufasa' }, 'another realm');
  t.same(s.check('DESCRIBE', url, authorization({ ...base, nc: '00000009', cnonce: 'x' }).replace('algorithm=MD5', 'algorithm=SHA-256'), '10.0.0.5', lookup), { ok: false, reason: 'malformed', user: 'Mufasa' }, 'an algorithm not offered');

  // Stale: right password, but the nonce is too old, from another address or another server.
  t.same(s.check('DESCRIBE', url, authorization(base), '10.0.0.6', lookup), { ok: false, reason: 'stale', user: 'Mufasa' }, 'a nonce issued to another address');
  t.same(s.check('DESCRIBE', url, authorization({ ...base, nonce: RFC.nonce }), '10.0.0.5', lookup), { ok: false, reason: 'stale', user: 'Mufasa' }, 'a nonce this server never made');
  t.same(new DigestServer({ realm: RFC.realm, now: () => now }).check('DESCRIBE', url, authorization(base), '10.0.0.5', lookup), { ok: false, reason: 'stale', user: 'Mufasa' }, 'a nonce of another process (its secret)');
  now += 60_001;
  t.same(s.check('DESCRIBE', url, authorization(base), '10.0.0.5', lookup), { ok: false, reason: 'stale', user: 'Mufasa' }, 'older than the TTL');
  t.same(s.check('DESCRIBE', url, authorization({ ...base, password: 'nope nope' }), '10.0.0.5', lookup), { ok: false, reason: 'bad-response', user: 'Mufasa' }, 'an old nonce with a wrong password is not stale: a wrong password');
  t.match(s.challenge('10.0.0.5', true), /, stale=true$/, 'the renewed challenge says stale=true');
  const fresh = nonceOf(s.challenge('10.0.0.5'));
  t.same(s.check('DESCRIBE', url, authorization({ ...base, nonce: fresh }), '10.0.0.5', lookup), { ok: true, user: 'Mufasa' }, 'a fresh nonce works');

  t.throws(() => new DigestServer({ realm: 'a"b' }), /digest realm/, 'a realm that cannot be quoted');
  t.throws(() => new DigestServer({ realm: 'r', nonceTtlMs: 10 }), /nonceTtlMs/);
});

t.test('the account store keeps an HA1 per configured realm, renewed with the password', async (t) => {
  const path = join(mkdtempSync(join(tmpdir(), 'orbox-digest-')), 'accounts.json');
  const s = new AccountStore({ path, scrypt: { N: 1 << 10, r: 8, p: 1 }, digestRealms: ['orbox box-1'] }).open();
  await s.add('nurse', 'clinician', 'correct horse');
  t.same(JSON.parse(readFileSync(path, 'utf8')).accounts[0].digest, { 'orbox box-1': digestHa1('nurse', 'orbox box-1', 'correct horse') }, 'HA1 for the realm');
  t.notMatch(readFileSync(path, 'utf8'), /correct horse/, 'still no password in the file');
  await s.setPassword('nurse', 'battery staple');
  t.same(readDigestAccounts(path, 'orbox box-1').get('nurse'), { role: 'clinician', ha1: digestHa1('nurse', 'orbox box-1', 'battery staple') }, 'renewed with the password; read as the RTSP child reads it');
  t.same(readDigestAccounts(path, 'other realm').get('nurse'), { role: 'clinician', ha1: undefined }, 'no HA1 for a realm not configured');
  t.same(readDigestAccounts(join(path, '..', 'absent.json'), 'x').size, 0, 'no file: no accounts');
  t.throws(() => new AccountStore({ path, digestRealms: ['bad"realm'] }), /digest realm/);
});

import t from 'tap';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccountError, AccountStore, ensureFirstAdmin, FailureThrottle, roleAtLeast, SessionStore } from '../index.js';

// Cheap scrypt for the store's logic; the default cost is measured in its own test below.
const FAST = { N: 1 << 10, r: 8, p: 1 };
const dir = () => mkdtempSync(join(tmpdir(), 'orbox-access-'));

t.test('accounts: add, verify, passwd, remove, persisted 0600 and reopened', async (t) => {
  const path = join(dir(), 'access', 'accounts.json');
  const s = new AccountStore({ path, scrypt: FAST }).open();
  t.equal(s.size, 0, 'no file: no accounts');
  await s.add('nurse', 'clinician', 'correct horse');
  await s.add('boss', 'admin', 'battery staple');
  t.equal(statSync(path).mode & 0o777, 0o600, 'the accounts file is 0600');
  const raw = readFileSync(path, 'utf8');
  t.notMatch(raw, /correct horse/, 'no password in the file');
  t.same(JSON.parse(raw).accounts[0].digest, {}, 'no digestRealms: no HA1 kept');
  t.equal((await s.verify('nurse', 'correct horse'))?.role, 'clinician');
  t.equal(await s.verify('nurse', 'correct hors'), null, 'wrong password refused');
  t.equal(await s.verify('nobody', 'correct horse'), null, 'unknown name refused');
  await t.rejects(s.add('nurse', 'viewer', 'whatever12'), { code: 'exists' });
  await t.rejects(s.add('Nurse!', 'viewer', 'whatever12'), { code: 'invalid' });
  await t.rejects(s.add('x', 'surgeon' as never, 'whatever12'), { code: 'invalid' });
  await t.rejects(s.add('y', 'viewer', 'short'), /8 to 256 characters/);
  await s.setPassword('nurse', 'new password');
  const again = new AccountStore({ path, scrypt: FAST }).open();
  t.same(again.list().map((a) => [a.name, a.role]), [['nurse', 'clinician'], ['boss', 'admin']], 'reopened from the file');
  t.ok(await again.verify('nurse', 'new password'), 'the new password after reopen');
  t.equal(await again.verify('nurse', 'correct horse'), null, 'the old one no more');
  t.throws(() => again.remove('boss'), { code: 'last-admin' }, 'the last admin cannot be removed');
  again.remove('nurse');
  t.throws(() => again.remove('nurse'), { code: 'unknown' });
  t.equal(new AccountStore({ path, scrypt: FAST }).open().size, 1);
});

t.test('accounts: a corrupt file is named, not silently replaced', async (t) => {
  const path = join(dir(), 'accounts.json');
  writeFileSync(path, '{"version":1,"accounts":[{"name":"a"}]}');
  const err = (() => { try { new AccountStore({ path }).open(); } catch (e) { return e; } })();
  t.ok(err instanceof AccountError && err.code === 'corrupt' && err.message.includes(path), 'a corrupt account names the file');
  writeFileSync(path, 'not json');
  t.throws(() => new AccountStore({ path }).open(), /is not JSON/);
});

t.test('first admin: made once, random password unless given', async (t) => {
  const s = new AccountStore({ path: join(dir(), 'a.json'), scrypt: FAST }).open();
  const first = await ensureFirstAdmin(s);
  t.equal(first?.name, 'admin');
  t.equal(first?.generated, true);
  t.ok((first?.password.length ?? 0) >= 20, 'a long random password');
  t.ok(await s.verify('admin', first!.password));
  t.equal(await ensureFirstAdmin(s, 'admin', 'from provisioning'), undefined, 'not again once accounts exist');
  const p = new AccountStore({ path: join(dir(), 'b.json'), scrypt: FAST }).open();
  t.same(await ensureFirstAdmin(p, 'root', 'provisioned-pw'), { name: 'root', password: 'provisioned-pw', generated: false });
});

t.test('scrypt at the default cost: a check takes a noticeable time (brute force is slow)', async (t) => {
  const s = new AccountStore({ path: join(dir(), 'c.json') }).open();
  await s.add('a', 'viewer', 'password-1');
  const t0 = performance.now();
  t.ok(await s.verify('a', 'password-1'));
  const ms = performance.now() - t0;
  t.comment(`one scrypt check at N=2^15 r=8 p=1: ${ms.toFixed(0)} ms`);
  t.ok(ms > 10, 'more than 10 ms per guess');
  const t1 = performance.now();
  t.equal(await s.verify('nobody', 'password-1'), null);
  t.ok(performance.now() - t1 > 10, 'an unknown name costs a hash too (no name oracle by timing)');
});

t.test('roles are ordered', async (t) => {
  t.ok(roleAtLeast('admin', 'engineer'));
  t.ok(roleAtLeast('clinician', 'clinician'));
  t.notOk(roleAtLeast('viewer', 'clinician'));
});

t.test('sessions: expire idle and at their maximum age, end at sign-out and with the account', async (t) => {
  let now = 0;
  const s = new SessionStore({ idleMs: 1000, maxMs: 5000, now: () => now });
  const acc = { name: 'nurse', role: 'clinician' as const, createdAt: '', passwordChangedAt: '' };
  const tok = s.create(acc);
  t.match(tok, /^[A-Za-z0-9_-]{43}$/);
  t.equal(s.get(tok)?.account, 'nurse');
  t.equal(s.get('forged'), undefined);
  for (now = 900; now <= 4500; now += 900) t.ok(s.get(tok), `used at ${now} ms: still alive`);
  now = 5100;
  t.equal(s.get(tok), undefined, 'over its maximum age even though used');
  const idle = s.create(acc);
  now += 1001;
  t.equal(s.get(idle), undefined, 'idle too long');
  const a = s.create(acc), b = s.create({ ...acc, name: 'other' });
  s.end(a);
  t.equal(s.get(a), undefined, 'signed out');
  s.endAccount('other');
  t.equal(s.get(b), undefined, 'account changed: its sessions end');
  const w = s.create(acc, 'whep');
  t.equal(s.get(w), undefined, 'a WHEP bearer token is no console session');
  t.equal(s.get(w, 'whep')?.scope, 'whep');
  t.throws(() => new SessionStore({ idleMs: 10, maxMs: 5 }), /maxMs/);
});

t.test('throttle: per address, growing waits, never a lock-out of the account', async (t) => {
  let now = 0;
  const th = new FailureThrottle({ free: 3, baseMs: 1000, maxMs: 8000, forgetMs: 60_000, now: () => now });
  for (let i = 0; i < 3; i++) { t.equal(th.waitMs('10.0.0.9'), 0, `failure ${i}: no wait yet`); th.failed('10.0.0.9'); }
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) { waits.push(th.waitMs('10.0.0.9')); now += waits[i]; th.failed('10.0.0.9'); }
  t.same(waits, [1000, 2000, 4000, 8000, 8000], 'doubling waits, capped');
  t.equal(th.waitMs('10.0.0.7'), 0, 'another address (the nurse at her station) is not slowed');
  now += 60_001;
  t.equal(th.waitMs('10.0.0.9'), 0, 'forgotten after forgetMs');
  th.failed('a'); th.failed('a'); th.failed('a'); th.succeeded('a');
  t.equal(th.failures('a'), 0, 'a success clears the address');
});

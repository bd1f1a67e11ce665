/**
 * The console server's refusals over real HTTPS (node:https client): roles, CSRF guard, body
 * type, and that /api/* reaches the backend with the caller. The backend here is a recording
 * stand-in for the control worker's method table (the real one is exercised with a whole box in
 * test-rig/web/test/console.test.ts).
 */
import t from 'tap';
import { request } from 'node:https';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AccountStore, FailureThrottle, SessionStore } from '../../access/index.js';
import { WebConsole, loadOrMakeCert, type Caller } from '../index.js';

function call(port: number, method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) }, rejectUnauthorized: false }, (res) => {
      let b = ''; res.setEncoding('utf8'); res.on('data', (c) => (b += c)); res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('roles, CSRF and the backend call', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-web-'));
  const accounts = new AccountStore({ path: join(dir, 'accounts.json'), scrypt: { N: 1 << 10, r: 8, p: 1 } }).open();
  await accounts.add('viewer1', 'viewer', 'viewer-password');
  await accounts.add('nurse', 'clinician', 'nurse-password');
  const calls: [string, Record<string, unknown>, Caller][] = [];
  const tls = loadOrMakeCert({ dir: join(dir, 'web'), commonName: 'test', hosts: ['127.0.0.1'] });
  const web = new WebConsole({
    host: '127.0.0.1', port: 0, tls, accounts, sessions: new SessionStore(), throttle: new FailureThrottle(), box: { id: 'b', room: 'r' },
    backend: { call: async (m, p, c) => { calls.push([m, p, c]); if (p.caseId === 'dup') throw new Error('a case is recording already'); return { ok: m }; } },
  });
  const port = await web.start();
  t.teardown(() => web.close());
  const signIn = async (user: string, password: string) => {
    const r = await call(port, 'POST', '/signin', { 'Content-Type': 'application/x-www-form-urlencoded' }, new URLSearchParams({ user, password }).toString());
    t.equal(r.status, 303, `${user} signed in`);
    return String(r.headers['set-cookie']).split(';')[0];
  };
  const viewer = await signIn('viewer1', 'viewer-password');
  const nurse = await signIn('nurse', 'nurse-password');
  const json = { 'Content-Type': 'application/json' };

  t.equal((await call(port, 'GET', '/api/status', { Cookie: viewer })).status, 200);
  const refused = await call(port, 'POST', '/api/record/start', { ...json, Cookie: viewer }, '{}');
  t.equal(refused.status, 403, 'a viewer cannot start a case');
  t.match(JSON.parse(refused.body).error, /needs the clinician role; viewer1 is viewer/);
  t.equal((await call(port, 'POST', '/api/record/start', { ...json, Cookie: nurse }, '{"caseId":"c1"}')).status, 200, 'a clinician can');
  t.same(calls.at(-1)!.slice(0, 2), ['recordingStart', { caseId: 'c1' }]);
  t.equal(calls.at(-1)![2].account, 'nurse', 'the backend is told who asked');
  const dup = await call(port, 'POST', '/api/record/start', { ...json, Cookie: nurse }, '{"caseId":"dup"}');
  t.equal(dup.status, 409); t.match(dup.body, /a case is recording already/, 'the box\'s refusal in its own words');
  t.equal((await call(port, 'POST', '/api/record/stop', { Cookie: nurse, 'Content-Type': 'application/x-www-form-urlencoded' }, 'x=1')).status, 415, 'a form post (what a cross-site page can send) is refused');
  t.equal((await call(port, 'POST', '/api/record/stop', { ...json, Cookie: nurse, Origin: 'https://evil.example' }, '{}')).status, 403, 'a foreign Origin is refused');
  t.equal((await call(port, 'GET', '/api/commands', { Cookie: nurse })).status, 403, 'the command log needs an engineer');
  t.equal((await call(port, 'GET', '/api/nothing', { Cookie: nurse })).status, 404);
  const n = calls.length;
  await call(port, 'POST', '/signout', { Cookie: nurse });
  t.equal((await call(port, 'GET', '/api/status', { Cookie: nurse })).status, 401, 'signed out: refused');
  t.equal(calls.length, n, 'refused requests never reached the backend');
  await web.close();
  await web.close();
  t.pass('close is idempotent');
});

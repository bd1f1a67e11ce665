// `orbox users` against a running box (real supervisor, real CLI process over the local API):
// add with a generated password and with --password-stdin, list, passwd, remove; refusals in
// the box's words with exit code 1; the accounts file is 0600 and the passwords work; the
// box keeps each password's RTSP Digest HA1 for its realm.
import t from 'tap';
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { startBox, testConfig } from '../../supervisor/test/harness.js';
import { AccountStore, digestHa1, readDigestAccounts } from '../../access/index.js';
import { rtspRealm } from '../../config/index.js';

const cli = new URL('../../../../bin/orbox.js', import.meta.url).pathname;

function orbox(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = execFile(process.execPath, [cli, ...args], (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
    if (input !== undefined) c.stdin!.end(input); else c.stdin!.end();
  });
}

t.test('orbox users add|list|passwd|remove', async (t) => {
  const cfg = testConfig();
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  const s = ['--socket', cfg.api.socket];
  const added = await orbox(['users', 'add', 'nurse1', '--role', 'clinician', ...s]);
  t.equal(added.code, 0, added.stderr);
  const pw = /password: (\S+)/.exec(added.stdout)?.[1];
  t.ok(pw && pw.length >= 20, 'a generated password printed once');
  t.equal((await orbox(['users', 'add', 'eng', '--role', 'engineer', '--password-stdin', ...s], 'engineer passphrase\n')).code, 0);
  const list = await orbox(['users', 'list', ...s]);
  t.match(list.stdout, /nurse1\s+clinician/);
  t.match(list.stdout, /eng\s+engineer/);
  const dup = await orbox(['users', 'add', 'nurse1', '--role', 'viewer', ...s]);
  t.equal(dup.code, 1);
  t.match(dup.stderr, /account "nurse1" exists already/);
  const bad = await orbox(['users', 'add', 'x1', '--role', 'surgeon', ...s]);
  t.match(bad.stderr, /role "surgeon" is not one of viewer, clinician, engineer, admin/);
  t.equal((await orbox(['users', 'passwd', 'nurse1', '--password-stdin', ...s], 'a new nurse passphrase\n')).code, 0);
  t.equal((await orbox(['users', 'remove', 'eng', ...s])).code, 0);
  const path = join(cfg.box.dataDir, 'access', 'accounts.json');
  t.equal(statSync(path).mode & 0o777, 0o600, 'accounts file 0600');
  const store = new AccountStore({ path }).open();
  t.same(store.list().map((a) => a.name), ['nurse1']);
  t.ok(await store.verify('nurse1', 'a new nurse passphrase'), 'the new password is the one stored');
  t.equal(await store.verify('nurse1', pw!), null, 'the old one no more');
  t.same(readDigestAccounts(path, rtspRealm(cfg)).get('nurse1'), { role: 'clinician', ha1: digestHa1('nurse1', rtspRealm(cfg), 'a new nurse passphrase') }, 'the RTSP HA1 of the new password, for the box\'s realm');
});

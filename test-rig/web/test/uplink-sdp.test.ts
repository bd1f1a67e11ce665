/**
 * The uplink SDP over the web console (issue #15): `orbox receive --from` signs in over HTTPS
 * (the box's certificate checked against the CA given), fetches the SDP as an engineer and
 * plays; a viewer is refused, a wrong password is refused, and the audit log names who took the
 * keys. A real box; the receiving end is the real CLI.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { callLocalApi } from '../../../edge/control/local-api.js';
import { fetchUplinkSdp } from '../../../edge/web/sdp-client.js';
import { readAudit, auditPath } from '../../../edge/audit/index.js';
import { startBox, testConfig } from '../../../edge/supervisor/test/harness.js';

const bin = fileURLToPath(new URL('../../../../bin/orbox.js', import.meta.url));

t.test('orbox receive --from fetches the SDP over the console as an engineer; others are refused; the audit log names who', async (t) => {
  const base = testConfig();
  const port = 19443 + (process.pid % 500);
  const rx = 44_000 + 20 * (process.pid % 200);
  const cfg = testConfig({
    box: base.box, api: base.api,
    web: { enabled: true, host: '127.0.0.1', port, firstAdmin: { name: 'admin', password: 'admin-pass-1' } },
    uplink: { portStart: rx + 10_000, receivers: [{ name: 'expert', host: '127.0.0.1', port: rx, channels: ['cam'] }] },
  });
  const sup = await startBox(cfg);
  t.teardown(() => sup.stop());
  await callLocalApi(cfg.api.socket, 'usersAdd', { name: 'eng', role: 'engineer', password: 'eng-pass-12' });
  await callLocalApi(cfg.api.socket, 'usersAdd', { name: 'nurse', role: 'viewer', password: 'nurse-pass-12' });
  const ca = readFileSync(join(cfg.box.dataDir, 'web', 'self-signed.crt'));
  const url = `https://127.0.0.1:${port}`;

  await t.rejects(fetchUplinkSdp({ url, receiver: 'expert', user: 'nurse', password: 'nurse-pass-12', ca }), /HTTP 403.*needs the engineer role/, 'a viewer may not take the keys');
  await t.rejects(fetchUplinkSdp({ url, receiver: 'expert', user: 'eng', password: 'wrong', ca }), /sign-in .* refused \(HTTP 401\)/, 'a wrong password is refused');
  await t.rejects(fetchUplinkSdp({ url, receiver: 'expert', user: 'eng', password: 'eng-pass-12' }), /self.signed|certificate/i, 'a console whose certificate is not the one given is refused');

  const child = spawn(process.execPath, [bin, 'receive', '--from', url, '--receiver', 'expert', '--user', 'eng', '--ca', join(cfg.box.dataDir, 'web', 'self-signed.crt'), '--port', String(rx), '--rtsp-port', String(port + 1000), '--every', '1'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => { child.kill('SIGTERM'); });
  child.stdin.end('eng-pass-12\n');
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const until = Date.now() + 20_000;
  while (!/cam: rtsp:/.test(out) && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 200));
  t.match(out, /orbox receive: cam on UDP \d+/, 'the receiving end started from the fetched SDP');
  // What it re-serves decodes: the box's picture came through with the keys from the console.
  const frames = await new Promise<number>((resolve) => {
    const p = spawn('ffmpeg', ['-hide_banner', '-nostdin', '-rtsp_transport', 'tcp', '-i', `rtsp://127.0.0.1:${port + 1000}/cam`, '-frames:v', '30', '-f', 'null', '-'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    p.stderr.on('data', (d) => { log += d; });
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('exit', () => { clearTimeout(timer); resolve(Number([...log.matchAll(/frame=\s*(\d+)/g)].pop()?.[1] ?? 0)); });
  });
  t.equal(frames, 30, `ffmpeg decoded ${frames} frames from orbox receive's re-serve`);
  const rec = readAudit(auditPath(cfg.box.dataDir)).filter((r) => r.action === 'uplink.sdp');
  t.ok(rec.some((r) => r.actor === 'web:eng' && r.from === 'web' && r.outcome === 'finished' && r.target === 'expert'), 'the audit log: web:eng took the expert SDP');
  t.ok(readAudit(auditPath(cfg.box.dataDir)).some((r) => r.action === 'signin' && r.actor === 'web:eng' && r.outcome === 'refused'), 'and the refused sign-in');
});

import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { testConfig } from './harness.js';

const cli = new URL('../../../../bin/orbox.js', import.meta.url).pathname;
const unit = new URL('../../../../provision/systemd/orbox.service', import.meta.url).pathname;

function runBox(config: object, env: NodeJS.ProcessEnv = {}): { child: ChildProcess; file: string; ready: Promise<string> } {
  const file = join((config as { box: { dataDir: string } }).box.dataDir, 'config.yaml');
  writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, [cli, 'run', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => { out += d; if (out.includes('running')) resolve(out); });
    child.once('exit', (code) => reject(new Error(`orbox exited ${code} before it was running`)));
  });
  child.stderr!.resume();
  return { child, file, ready };
}

t.test('SIGTERM stops every worker within the deadline and exits 0', async (t) => {
  const cfg = testConfig({ log: { level: 'info' } });
  const { child, ready } = runBox(cfg);
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await ready;
  t.ok(existsSync(cfg.api.socket), 'the local API socket is up');
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const t0 = Date.now();
  child.kill('SIGTERM');
  const [code] = await once(child, 'exit');
  const ms = Date.now() - t0;
  t.equal(code, 0, 'exit code 0');
  t.ok(ms < cfg.guard.stopTimeoutMs + 2000, `stopped in ${ms} ms (deadline ${cfg.guard.stopTimeoutMs} ms)`);
  t.match(stderr, /"msg":"box stopped"/);
  t.notOk(existsSync(cfg.api.socket), 'the socket is removed');
});

t.test('under systemd: READY=1 once all workers are up, then WATCHDOG=1 while healthy', async (t) => {
  const cfg = testConfig();
  const sock = join(cfg.box.dataDir, 'notify.sock');
  // A stand-in for systemd's notification socket (Unix datagram; Node cannot bind one).
  const listener = spawn('python3', ['-u', '-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); print('bound', flush=True)
while True: print(s.recv(4096).decode().replace('\\n', ' '), flush=True)
`, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => listener.kill());
  let got = '';
  await new Promise<void>((resolve) => listener.stdout!.on('data', (d) => { got += d; if (got.includes('bound')) resolve(); }));
  const { child, ready } = runBox(cfg, { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '600000' });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await ready;
  const deadline = Date.now() + 10_000;
  while ((got.match(/WATCHDOG=1/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.match(got, new RegExp(`MAINPID=${child.pid} READY=1`), 'READY=1 for the supervisor');
  t.ok((got.match(/WATCHDOG=1/g) ?? []).length >= 2, 'watchdog pings while healthy');
  t.ok(got.indexOf('READY=1') < got.indexOf('WATCHDOG=1'), 'no watchdog ping before READY');
  child.kill('SIGTERM');
  await once(child, 'exit');
  await new Promise((r) => setTimeout(r, 300));
  t.match(got, /STOPPING=1/);
});

t.test('the systemd unit is a notify service with a watchdog', async (t) => {
  const u = readFileSync(unit, 'utf8');
  t.match(u, /^Type=notify$/m);
  t.match(u, /^NotifyAccess=all$/m);
  t.match(u, /^WatchdogSec=\d+s$/m);
  t.match(u, /^ExecStart=.*orbox\.js run --config /m);
});

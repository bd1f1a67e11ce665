import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { CPU_LATENCY_DEVICE, effectiveCpuWakeLatencyUs } from '../../lib/cpu-latency.js';
import { testConfig } from './harness.js';

const run = promisify(execFile);

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

/** Why this machine cannot hold a PM QoS request (the test needs root or the box's udev rule), or null. */
function cpuLatencyUnavailable(): string | null {
  try { closeSync(openSync(CPU_LATENCY_DEVICE, 'r+')); return null; } catch (err) { return `${CPU_LATENCY_DEVICE}: ${(err as NodeJS.ErrnoException).code}`; }
}

t.test('the box holds its CPU wake-up latency request while it runs, and a kill -9 drops it', { skip: cpuLatencyUnavailable() ?? false }, async (t) => {
  const before = effectiveCpuWakeLatencyUs();
  // An odd value no other holder would pick, below whatever is in force now.
  const want = Math.min(37, before - 1);
  t.ok(want >= 0, `the limit in force before the box starts (${before} us) leaves room for a request`);
  const cfg = testConfig({ cpu: { wakeLatencyUs: want } });
  const { child, ready } = runBox(cfg);
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  await ready;
  t.equal(effectiveCpuWakeLatencyUs(), want, 'the kernel applies the box\'s request while it runs');
  const status = JSON.parse((await run(process.execPath, [cli, 'status', '--json', '--socket', cfg.api.socket])).stdout);
  t.same(status.cpu, { requestedUs: want, held: true }, 'status --json reports the request held');
  const human = (await run(process.execPath, [cli, 'status', '--socket', cfg.api.socket])).stdout;
  t.match(human, `cpu wake-up latency: held at ${want} us`);
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.equal(effectiveCpuWakeLatencyUs(), before, 'the kernel dropped the request with the killed box');
});

t.test('the systemd unit is a notify service with a watchdog', async (t) => {
  const u = readFileSync(unit, 'utf8');
  t.match(u, /^Type=notify$/m);
  t.match(u, /^NotifyAccess=all$/m);
  t.match(u, /^WatchdogSec=\d+s$/m);
  t.match(u, /^ExecStart=.*orbox\.js run --config /m);
  // The unit's group is the one the udev rule gives the PM QoS device (cpu-latency.ts).
  const group = /^Group=(\S+)$/m.exec(u)?.[1];
  const rule = readFileSync(new URL('../../../../provision/udev/60-orbox-cpu-latency.rules', import.meta.url), 'utf8');
  t.match(rule, new RegExp(`^KERNEL=="cpu_dma_latency".*GROUP="${group}", MODE="0660"$`, 'm'), `the udev rule gives ${group} the PM QoS device`);
});

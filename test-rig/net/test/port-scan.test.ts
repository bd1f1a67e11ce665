/**
 * What the demo box (`orbox run` with no configuration, as `make run` starts it) opens on the
 * machine's network (issue #21): a TCP connect scan of every port of every non-loopback address
 * of this machine, before the box starts and while it runs (its monitor, camera, uplink to a
 * loopback expert, web console and RTSP all up). What the box added must be what its
 * configuration opens to the network: RTSP (`rtsp.host` 0.0.0.0 in the demo, port 8554) and
 * nothing else (the web console, the uplink to a receiver on loopback, the demo camera stay on
 * loopback).
 * UDP is not scanned (a UDP scan waits on ICMP port-unreachable, which the kernel rate-limits to
 * about one per millisecond): the box's own UDP sockets are read from /proc instead (every
 * socket of the box's process tree, by inode), and those not on loopback must be RTSP's RTP
 * range (`rtsp.rtpPortStart` + `rtpPortCount`, on RTSP's host).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { demoConfig } from '../../../edge/config/index.js';
import { processTree } from '../../procfs.js';

const cli = fileURLToPath(new URL('../../../../bin/orbox.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Non-loopback addresses of this machine (link-local IPv6 with its interface). */
function addresses(): string[] {
  const out: string[] = [];
  for (const [name, list] of Object.entries(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal) continue;
      out.push(a.family === 'IPv6' && a.address.startsWith('fe80') ? `${a.address}%${name}` : a.address);
    }
  }
  return out;
}

/** Whether a TCP connect to host:port is accepted (within `timeoutMs`). */
function probe(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    // A connect whose ephemeral source port happens to be the port probed meets itself (TCP
    // simultaneous open on a local address): nothing listens there.
    s.once('connect', () => done(!(s.localPort === s.remotePort && s.localAddress === s.remoteAddress)));
    s.once('error', () => done(false));
  });
}

/**
 * Open TCP ports of `host`: a connect to every port, `width` at a time; then every port whose
 * answer differs from `expectOpen`'s is asked again alone with a long timeout (on a loaded
 * machine a connect among thousands can time out although the port listens).
 */
async function scanTcp(host: string, expectOpen: number[] = [], width = 500): Promise<number[]> {
  const open = new Set<number>();
  let next = 1;
  await Promise.all(Array.from({ length: width }, async () => { while (next <= 65535) { const p = next++; if (await probe(host, p, 1000)) open.add(p); } }));
  for (const p of new Set([...open, ...expectOpen])) {
    const again = await probe(host, p, 5000);
    if (again) open.add(p); else open.delete(p);
  }
  return [...open].sort((a, b) => a - b);
}

/** UDP sockets (local address:port) held by the processes `pids`, from /proc/net/udp{,6}. */
function udpSocketsOf(pids: number[]): { address: string; port: number }[] {
  const inodes = new Set<string>();
  for (const pid of pids) {
    let fds: string[] = [];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { continue; }
    for (const fd of fds) {
      try { const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`)); if (m) inodes.add(m[1]); } catch { /* closed meanwhile */ }
    }
  }
  const out: { address: string; port: number }[] = [];
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 10 || !inodes.has(c[9])) continue;
      const [hex, portHex] = c[1].split(':');
      const address = hex.length === 8
        ? hex.match(/../g)!.reverse().map((b) => parseInt(b, 16)).join('.')
        : hex === '0'.repeat(32) ? '::' : hex === '00000000000000000000000001000000' ? '::1' : hex === '0000000000000000FFFF00000100007F' ? '::ffff:127.0.0.1' : `v6:${hex}`;
      out.push({ address, port: parseInt(portHex, 16) });
    }
  }
  return out;
}

const loopback = (a: string): boolean => a.startsWith('127.') || a === '::1' || a === '::ffff:127.0.0.1';

t.test('a port scan of the demo box\'s non-loopback addresses finds only what its configuration opens', async (t) => {
  const hosts = addresses();
  t.ok(hosts.length > 0, `scanning ${hosts.join(', ')}`);
  const before = new Map<string, number[]>();
  for (const h of hosts) before.set(h, await scanTcp(h));

  const base = mkdtempSync(join(tmpdir(), 'orbox-scan-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const env = { ...process.env, ORBOX_RUNTIME_DIR: join(base, 'run'), ORBOX_DATA_DIR: join(base, 'data') };
  const box = spawn(process.execPath, [cli, 'run'], { cwd: base, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  box.stdout.on('data', (d) => { out = (out + d).slice(-4000); });
  box.stderr.on('data', (d) => { out = (out + d).slice(-4000); });
  t.teardown(() => { if (box.exitCode === null) box.kill('SIGKILL'); });
  const end = Date.now() + 45_000;
  while (!out.includes(' running:') && Date.now() < end && box.exitCode === null) await sleep(200);
  t.ok(out.includes(' running:'), 'the demo box runs');
  await sleep(8000); // camera, uplink, monitor and the RTSP mounts come up
  const rtspUp = Date.now() + 30_000;
  while (!(await probe('127.0.0.1', demoConfig().rtsp.port, 2000)) && Date.now() < rtspUp) await sleep(500);

  const rtsp = demoConfig().rtsp;
  // RTSP on 0.0.0.0 listens on every IPv4 address; on :: on every address.
  const expected = (h: string): number[] => (rtsp.host === '::' || (rtsp.host === '0.0.0.0' && !h.includes(':')) || rtsp.host === h ? [rtsp.port] : []);
  for (const h of hosts) {
    if (before.get(h)!.includes(rtsp.port)) t.fail(`${h}: port ${rtsp.port} was open before the box started (another process): the scan cannot tell the box's RTSP`);
    const added = (await scanTcp(h, expected(h))).filter((p) => !before.get(h)!.includes(p));
    t.same(added, expected(h), `${h}: the box opened TCP ${added.join(', ') || 'nothing'} (configured: RTSP ${rtsp.port} on ${rtsp.host})`);
  }
  const udp = udpSocketsOf(processTree(box.pid!).map((p) => p.pid)).filter((s) => !loopback(s.address));
  const outside = udp.filter((s) => !(s.port >= rtsp.rtpPortStart && s.port < rtsp.rtpPortStart + rtsp.rtpPortCount));
  t.ok(udp.length > 0, `${udp.length} UDP sockets off loopback, ports ${[...new Set(udp.map((s) => s.port))].slice(0, 6).join(', ')}…`);
  t.same(outside, [], 'every one in RTSP\'s RTP range: no other UDP port open to the network');

  box.kill('SIGTERM');
  await new Promise((r) => box.once('exit', r));
});

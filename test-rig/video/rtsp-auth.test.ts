/**
 * RTSP Digest authentication with per-stream roles (#21), as a user of a real box sees it: a
 * box with two channels, `endoscope` (any account: 'viewer') and `room` (clinician and up),
 * `rtsp.auth.required`; accounts made with the account store in the box's data dir before it
 * starts. Real ffmpeg (Digest with qop=auth) and real GStreamer rtspsrc (RFC 2069, no qop) are
 * refused without credentials and with a wrong password (401), decode frames with the right
 * ones, are refused (403) on the stream their role does not cover and allowed on the other. A
 * password changed while the box runs is used at once (the child re-reads the accounts file);
 * an account without an HA1 for the realm is refused until its password is set again; an
 * account removed while it watches has its players' streams ended (they exit by themselves). Every
 * method but OPTIONS is guarded and a session is its account's alone (a bare client). Refusals
 * are logged, throttled, without passwords or HA1s.
 * What is asserted is what a user sees: decoded frames, and the player's own error text.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { AccountStore, digestHa1, md5 } from '../../edge/access/index.js';
import { rtspRealm } from '../../edge/config/index.js';
import { createLogger } from '../../edge/lib/log.js';
import { Supervisor } from '../../edge/supervisor/supervisor.js';
import { freeTcpPort, GstPeer, testRtpPortStart } from '../rtp/gst-peers.js';
import { FfmpegViewer } from '../rtp/players.js';
import { sleep, streamsMounted, videoConfig } from './helpers.js';

const FAST = { N: 1 << 10, r: 8, p: 1 };

/** ffmpeg decoding 10 frames over TCP; its exit code and what it printed. */
function ffmpeg(url: string): Promise<{ code: number; frames: number; text: string }> {
  return new Promise((resolve) => {
    execFile('ffmpeg', ['-hide_banner', '-nostdin', '-rtsp_transport', 'tcp', '-i', url, '-frames:v', '10', '-f', 'null', '-'], { timeout: 20_000 }, (err, _out, stderr) => {
      const frames = [...stderr.matchAll(/frame=\s*(\d+)/g)].map((m) => Number(m[1])).pop() ?? 0;
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, frames, text: stderr });
    });
  });
}

/** rtspsrc -> rtph264depay -> avdec_h264 -> counting fakesink, over TCP, with credentials. */
function rtspsrc(url: string, user?: string, pw?: string): GstPeer {
  return new GstPeer([
    'rtspsrc', `location=${url}`, 'protocols=tcp', 'latency=200', ...(user ? [`user-id=${user}`] : []), ...(pw ? [`user-pw=${pw}`] : []), '!',
    'rtph264depay', '!', 'avdec_h264', '!', 'fakesink', 'silent=false', 'sync=false',
  ]);
}

/** A bare RTSP client on one connection: requests in turn, Digest (RFC 2069 form) once challenged. */
class RawRtsp {
  private buf = '';
  private waiting: (() => void) | null = null;
  private cseq = 0;
  private nonce = '';
  private realm = '';
  constructor(private readonly sock: Socket) {
    sock.setEncoding('utf8').on('data', (d: string) => { this.buf += d; this.waiting?.(); });
  }
  static open(port: number): Promise<RawRtsp> {
    return new Promise((resolve, reject) => { const s = connect(port, '127.0.0.1', () => resolve(new RawRtsp(s))); s.once('error', reject); });
  }
  /** Sends a request (signed as `user` when given and challenged before); resolves with the status and headers. */
  async request(method: string, url: string, headers: Record<string, string> = {}, cred?: [string, string]): Promise<{ status: number; headers: Record<string, string> }> {
    const h: Record<string, string> = { CSeq: String(++this.cseq), ...headers };
    if (cred && this.nonce) {
      const r = md5(`${digestHa1(cred[0], this.realm, cred[1])}:${this.nonce}:${md5(`${method}:${url}`)}`);
      h.Authorization = `Digest username="${cred[0]}", realm="${this.realm}", nonce="${this.nonce}", uri="${url}", response="${r}"`;
    }
    this.sock.write(`${method} ${url} RTSP/1.0\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end >= 0) {
        const lines = this.buf.slice(0, end).split('\r\n');
        const out: Record<string, string> = {};
        for (const l of lines.slice(1)) { const i = l.indexOf(':'); out[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
        const len = Number(out['content-length'] ?? 0);
        if (this.buf.length >= end + 4 + len) {
          this.buf = this.buf.slice(end + 4 + len);
          const auth = out['www-authenticate'];
          if (auth) { this.nonce = /nonce="([^"]+)"/.exec(auth)![1]!; this.realm = /realm="([^"]+)"/.exec(auth)![1]!; }
          return { status: Number(lines[0]!.split(' ')[1]), headers: out };
        }
      }
      await new Promise<void>((r) => { this.waiting = r; });
    }
  }
  close(): void { this.sock.destroy(); }
}

t.test('RTSP Digest: ffmpeg and rtspsrc refused without or with wrong credentials (401), a role below the stream\'s refused (403), frames with the right ones', async (t) => {
  const port = await freeTcpPort();
  const channels = [{ name: 'endoscope', width: 640, height: 360, fps: 30 }, { name: 'room', width: 640, height: 360, fps: 30 }];
  const base = videoConfig(port, channels);
  const cfg = videoConfig(port, channels, {
    box: { id: 'auth-test', room: 'Test OR', dataDir: base.box.dataDir },
    api: { socket: base.api.socket },
    rtsp: { host: '127.0.0.1', port, rtpPortStart: testRtpPortStart(), rtpPortCount: 200, auth: { required: true, streams: { room: 'clinician' } } },
  });
  const store = new AccountStore({ path: join(cfg.box.dataDir, 'access', 'accounts.json'), scrypt: FAST, digestRealms: [rtspRealm(cfg)] }).open();
  await store.add('guest', 'viewer', 'guest-pass-1');
  await store.add('surgeon', 'clinician', 'surgeon-pass-1');

  const logged: string[] = [];
  const sup = new Supervisor(cfg, { log: createLogger('supervisor', { level: 'warn', destination: { write: (l: string) => { logged.push(l); process.stderr.write(l); } } }) });
  t.teardown(() => sup.stop());
  await sup.start();
  const at = (user: string, path: string) => `rtsp://${user}@127.0.0.1:${port}${path}`;
  const plain = (path: string) => `rtsp://127.0.0.1:${port}${path}`;
  await streamsMounted(sup, [plain('/endoscope/hq'), plain('/room/hq')]);

  // ffmpeg
  const none = await ffmpeg(plain('/endoscope/hq'));
  t.not(none.code, 0, 'ffmpeg without credentials fails');
  t.match(none.text, /401 Unauthorized/, `ffmpeg without credentials: ${none.text.match(/.*401.*/)?.[0]}`);
  const wrong = await ffmpeg(at('guest:not-the-pass', '/endoscope/hq'));
  t.not(wrong.code, 0, 'ffmpeg with a wrong password fails');
  t.match(wrong.text, /401 Unauthorized/, `ffmpeg with a wrong password: ${wrong.text.match(/.*401.*/)?.[0]}`);
  const guest = await ffmpeg(at('guest:guest-pass-1', '/endoscope/hq'));
  t.equal(guest.code, 0, 'ffmpeg as guest (viewer) on endoscope exits 0');
  t.equal(guest.frames, 10, 'and decoded its 10 frames');
  const guestRoom = await ffmpeg(at('guest:guest-pass-1', '/room/hq'));
  t.not(guestRoom.code, 0, 'ffmpeg as guest on room (clinician) fails');
  t.match(guestRoom.text, /403 Forbidden/, `ffmpeg as guest on room: ${guestRoom.text.match(/.*403.*/)?.[0]}`);
  const surgeonRoom = await ffmpeg(at('surgeon:surgeon-pass-1', '/room/lq'));
  t.equal(surgeonRoom.code, 0, 'ffmpeg as surgeon (clinician) on room/lq exits 0');
  t.equal(surgeonRoom.frames, 10, 'and decoded its 10 frames');

  // GStreamer rtspsrc (RFC 2069 Digest: no qop, nc or cnonce)
  const refusal = async (name: string, p: GstPeer, code: RegExp): Promise<void> => {
    const r = await p.done(20_000);
    t.not(r.exitCode, 0, `rtspsrc ${name}: fails`);
    t.equal(r.frames, 0, `rtspsrc ${name}: no frame`);
    const text = r.allWarnings.join('\n') + r.stderrTail;
    t.match(text, code, `rtspsrc ${name}: ${text.match(new RegExp(`.*${code.source}.*`))?.[0]?.slice(0, 200)}`);
  };
  await refusal('without credentials', rtspsrc(plain('/endoscope/hq')), /Unauthorized|401/);
  await refusal('with a wrong password', rtspsrc(plain('/endoscope/hq'), 'guest', 'not-the-pass'), /Unauthorized|401/);
  await refusal('as guest on room', rtspsrc(plain('/room/hq'), 'guest', 'guest-pass-1'), /Forbidden|403/);
  for (const [user, pw, path] of [['guest', 'guest-pass-1', '/endoscope/hq'], ['surgeon', 'surgeon-pass-1', '/room/hq']] as const) {
    const p = rtspsrc(plain(path), user, pw);
    t.teardown(() => p.stop(2000));
    t.ok(await p.waitFrames(10, 20_000) >= 10, `rtspsrc as ${user} on ${path}: 10 frames decoded`);
    await p.stop(3000);
  }

  // Every method but OPTIONS is guarded, and a session is its account's alone.
  const raw = await RawRtsp.open(port);
  t.teardown(() => raw.close());
  const room = plain('/room/hq');
  t.equal((await raw.request('OPTIONS', room)).status, 200, 'OPTIONS needs no credentials');
  t.equal((await raw.request('SETUP', `${room}/streamid=0`, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' })).status, 401, 'SETUP without credentials: 401');
  t.match((await raw.request('DESCRIBE', room)).headers['www-authenticate'], /^Digest realm="orbox auth-test", nonce="[^"]+", algorithm=MD5, qop="auth"$/, 'the challenge names the box\'s realm');
  const surgeon: [string, string] = ['surgeon', 'surgeon-pass-1'];
  t.equal((await raw.request('DESCRIBE', room, {}, surgeon)).status, 200, 'DESCRIBE as surgeon (RFC 2069 form): 200');
  const setup = await raw.request('SETUP', `${room}/streamid=0`, { Transport: 'RTP/AVP/TCP;unicast;interleaved=0-1' }, surgeon);
  t.equal(setup.status, 200, 'SETUP as surgeon: 200');
  const session = setup.headers.session!.split(';')[0]!;
  const other = await RawRtsp.open(port);
  t.teardown(() => other.close());
  await other.request('DESCRIBE', plain('/endoscope/hq'));
  t.equal((await other.request('PLAY', plain('/endoscope/hq'), { Session: session }, ['guest', 'guest-pass-1'])).status, 454, 'guest playing the surgeon\'s session (on a URL guest may watch): 454');
  t.equal((await raw.request('TEARDOWN', room, { Session: session }, surgeon)).status, 200, 'the surgeon tears it down');

  // An account made without the realm's HA1 (before RTSP auth, or by a store not told the
  // realm) cannot watch until its password is set again; the log says so.
  await new AccountStore({ path: store.path, scrypt: FAST }).open().add('legacy', 'admin', 'legacy-pass-1');
  const legacy = await ffmpeg(at('legacy:legacy-pass-1', '/endoscope/hq'));
  t.match(legacy.text, /401 Unauthorized/, 'an account without an HA1 for the realm: 401');
  t.ok(logged.some((l) => l.includes('account has no RTSP credentials for this realm: set its password again') && l.includes('user legacy')), 'and the log says to set its password again');
  await store.open().setPassword('legacy', 'legacy-pass-2');
  t.equal((await ffmpeg(at('legacy:legacy-pass-2', '/endoscope/hq'))).frames, 10, 'after its password is set again: 10 frames');

  // A password changed while the box runs: the old one is refused, the new one works.
  await store.setPassword('guest', 'guest-pass-2');
  const old = await ffmpeg(at('guest:guest-pass-1', '/endoscope/hq'));
  t.match(old.text, /401 Unauthorized/, 'ffmpeg with the old password after a change: 401');
  const renewed = await ffmpeg(at('guest:guest-pass-2', '/endoscope/hq'));
  t.equal(renewed.frames, 10, 'ffmpeg with the new password: 10 frames');

  // An account removed while it watches: its viewers' streams end (RTCP BYE), the players exit.
  await store.add('nurse', 'viewer', 'nurse-pass-1');
  const watching = [new FfmpegViewer(at('nurse:nurse-pass-1', '/endoscope/hq'), 'tcp'), rtspsrc(plain('/endoscope/lq'), 'nurse', 'nurse-pass-1')] as const;
  t.teardown(() => Promise.all(watching.map((p) => p.stop(2000))));
  await Promise.all(watching.map((p) => p.waitFrames(20, 20_000)));
  store.remove('nurse');
  const t0 = performance.now();
  const ended = await Promise.all(watching.map((p) => Promise.race([p.ended().then(() => Math.round(performance.now() - t0)), sleep(8000).then(() => -1)])));
  t.ok(ended[0]! >= 0, `ffmpeg (TCP) of a removed account ended by itself, ${ended[0]} ms after the removal`);
  t.ok(ended[1]! >= 0, `rtspsrc (UDP) of a removed account ended by itself, ${ended[1]} ms after the removal`);
  t.ok(logged.some((l) => l.includes('RTSP session of nurse on /endoscope/hq ended: account removed')), 'the log names the account and the stream');

  // Refusals are logged at warn with user, address and stream, throttled; no secret ever.
  const refusals = logged.filter((l) => l.includes('RTSP request refused'));
  t.ok(refusals.some((l) => /"level":"warn"/.test(l) && /user guest DESCRIBE \/endoscope\/hq: bad-response/.test(l) && l.includes('127.0.0.1')), 'a wrong password logged: user, address, stream');
  t.ok(refusals.some((l) => /user guest \(viewer\) DESCRIBE \/room\/hq: room needs clinician/.test(l)), 'a 403 logged with the role wanted');
  t.ok(refusals.length <= 3 * 10 + 3, `throttled: ${refusals.length} lines`);
  const all = logged.join('');
  for (const secret of ['guest-pass-1', 'guest-pass-2', 'surgeon-pass-1', 'not-the-pass', 'legacy-pass-1', 'legacy-pass-2', 'nurse-pass-1', digestHa1('guest', rtspRealm(cfg), 'guest-pass-1'), digestHa1('surgeon', rtspRealm(cfg), 'surgeon-pass-1')]) {
    t.notOk(all.includes(secret), `never logged: ${secret.length === 32 ? 'an HA1' : 'a password'}`);
  }
});

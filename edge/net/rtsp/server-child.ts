/**
 * The RTSP server process: `rtsp-streaming-server` 2.1.0 (GPL-3.0), run in a child process
 * forked by RtspServerHost (server-host.ts) so its licence stays at arm's length and its crashes
 * cannot take the box down. This program only wires the package up and guards it; its one piece
 * of media logic is letting each viewer in at a keyframe (startViewersAtKeyframes: the package
 * forwards every packet to every viewer, so a player joining mid-GOP got slices it could not
 * decode). A mount is stream 0 (video) and, for a channel with audio, stream 1 (its Opus track);
 * the RTP state kept across a publisher's restart is the video's (the audio starts a new SSRC).
 *
 * Lifecycle: started with one argv argument (ChildConfig as JSON); listens; reports
 * 'listening'; serves mounts the publisher adds/removes over IPC (relayed by the host); exits
 * when the IPC channel closes (the box process is gone: no mount outlives it) and on any
 * unexpected exception (the host restarts it with backoff). Runs on: its own process.
 *
 * Publishers come and go (a net-send restart), the child and its viewers stay:
 *  - 'attach' names the new publisher's media socket: RTP/RTCP is relayed only from it, and
 *    viewers' RTCP goes to it. Mounts of the earlier publisher keep their viewers; one that the
 *    new publisher re-adds ('add', same path) within `reclaimMs` is taken over (same ports,
 *    sessions untouched, SDP replaced); the others are removed then (channel gone).
 *  - RTP continuity: per mount the child remembers the SSRC and next sequence number of what it
 *    relayed, and the timestamp offset the publisher gave with 'add'; 'attached' hands them to
 *    the new publisher, whose packetiser continues them, so to a viewer the restart is a gap
 *    in one stream (players drop a stream whose SSRC changes or whose sequence jumps).
 *  - A real end: a removed mount sends every viewer an RTCP BYE (RFC 3550 §6.6) for its SSRC
 *    before its sessions close; players end the stream on it (ffmpeg returns end of file,
 *    rtspsrc sends EOS) instead of waiting on silence.
 *
 * Authentication (ChildConfig.auth, from `rtsp.auth` when `required`): the package has none, so
 * `guardRequest` checks every request but OPTIONS before the package sees it, with RTSP Digest
 * (edge/access/digest.ts: qop=auth as ffmpeg answers, the RFC 2069 form as rtspsrc does; the
 * nonce is bound to the client's address and lives 5 min, then a right response gets a new
 * challenge with stale=true; the players' keepalive is OPTIONS, open, so a session outlives its
 * nonce: seen with ffmpeg and rtspsrc, UDP and TCP, playing 90 s on a 2 s nonce lifetime; only
 * their TEARDOWN then gets a 401, which they do not retry, and the session ends by its timeout
 * or with its connection). No or wrong credentials: 401 with `WWW-Authenticate`; an account
 * whose role is below the channel's (`auth.streams[channel]`, default 'viewer'; the channel is
 * the mount path's first segment; checked for the Request-URI and for the mount of the
 * request's session): 403. A session belongs to the account that set it up: another account's
 * request on it gets 454, as an unknown session would. A session whose account is removed, gets
 * a new password or a role below its channel's is ended within a second (revokeSessions: an
 * RTCP BYE, then closed), as the console ends an account's sessions. Accounts are read by this process from the accounts
 * file (edge/access/accounts.ts `readDigestAccounts`: name, role, the HA1 for the realm; no
 * scrypt), re-read when its inode, mtime or size changes (checked at each request: a `stat`); an
 * unreadable file means no accounts, logged. Why the file and not the host's IPC: the control
 * worker owns the accounts and the supervisor (which holds the host) does not see its changes,
 * while the file is written atomically by the one store. Refusals are logged at warn with user,
 * address, method and path (a missing Authorization, every player's first try, and stale nonces
 * are only counted), at most 10 lines per kind and minute; passwords and HA1s never. With
 * `unguarded` (a test hook) nothing is checked.
 *
 * What the package lacked is fixed in the package itself, carried as patches (patches/README.md:
 * rtsp-stream, rtsp-server, rtsp-streaming-server): RTP/AVP/TCP interleaved play (RFC 2326
 * §10.12), and viewers' RTCP (receiver reports) relayed to the publisher's RTCP address. This
 * program refuses to start on an unpatched install. Here, for those: each mount's publisher
 * address is set to the parent's media socket (so RRs reach net-send from the first one, before
 * our first SR), each relayed compound gets an APP 'ORBX' packet naming the viewer's session
 * (receiver-reports.ts: RTCP alone cannot tell two ffmpeg viewers apart), and a viewer's RTCP
 * is relayed at most RTCP_RELAY_PER_S per mount (a viewer flooding its RTCP channel must not
 * load net-send). The SETUP guard accepts what the package's own parseTransport() serves.
 *
 * Known defects of the package (shared reference rtsp-streaming-server.md, and read in its
 * source) and how each is contained here, without patching it further:
 *  - SETUP for an unknown path, an unknown stream id, a missing/odd Transport header or an
 *    unknown session throws inside an async handler (unhandled rejection: process exit) or never
 *    answers. -> `guardRequest` validates before the package sees the request and answers
 *    404/454/461/400 itself; any rejection left is caught and answered 500.
 *  - A Request-URI that is not an absolute URL (`OPTIONS * RTSP/1.0`) throws in getMountInfo.
 *    -> answered 400 by the guard.
 *  - Garbage request lines throw inside the socket's stream pipe (uncaught exception: exit).
 *    -> the decoder's `_write` is wrapped so a throw becomes a stream error: that connection is
 *    closed, the server keeps running. The decoder's error re-emitted on the server has a
 *    listener (without one, EventEmitter would throw).
 *  - Headers over the decoder's fixed 1024 bytes are silently dropped and the connection hangs
 *    forever. -> the wrapper closes such a connection; idle connections time out; connections
 *    are capped.
 *  - A publisher that disappears leaves its mount (503 forever). -> there is no publish server
 *    at all: mounts are created in-process by the parent, removed by it, and die with it.
 *  - The media UDP listeners bind every interface and relay anything they receive. -> only
 *    datagrams from the parent's loopback socket are relayed.
 *  - SETUP without PLAY keeps its ports forever (the keepalive timer starts only at PLAY), and
 *    a session advertised with `timeout=30` lived 60 s: 64 SETUPs without PLAY locked every
 *    viewer out (453) for a minute. -> `boundSessions`: a session that has not played within
 *    `unplayedSessionMs` of its SETUP is closed (OPTIONS or RTCP do not extend that), a playing
 *    one `sessionTimeoutMs` after its last sign of life (the advertised 30 s + a grace); each
 *    source address holds at most `maxSessionsPerClient` sessions; and when the session cap or
 *    the UDP ports run out, the oldest session that never played makes room, so `453` is only
 *    answered when playing viewers fill the box.
 *  - A viewer's RTCP may carry its own APP 'ORBX' packet, which the box read as the viewer's
 *    name. -> removed before the server's own label is appended (stripViewerLabels).
 *  - Bad requests were logged each time with up to 1 KB of the request. -> one BadInputLog
 *    (edge/lib/bad-input.ts): escaped, bounded, a few lines per kind and minute.
 *  - Mount.setup() returns (not throws) non-EADDRINUSE errors, and after a port clash moves the
 *    RTCP port wrongly. -> the returned value is checked; the ports actually bound are reported.
 */
import { createRequire } from 'node:module';
import type { Socket as UdpSocket, RemoteInfo } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import type { ChildConfig, ChildMessage, MountRtpState, MountStats, ParentMessage } from './protocol.js';
import { appendViewerLabel, stripViewerLabels } from '../../rtp/receiver-reports.js';
import { BadInputLog } from '../../lib/bad-input.js';
import { startsKeyframe } from '../../rtp/h264.js';
import { statSync } from 'node:fs';
import { DigestServer, readDigestAccounts, roleAtLeast, type DigestAccount } from '../../access/index.js';

const require = createRequire(import.meta.url);

// The package's shapes, as much as this program touches (kept local: no types leak outward).
interface RtspReq { method: string; uri: string; headers: Record<string, string | undefined>; socket: Socket }
interface RtspRes { statusCode: number; setHeader(n: string, v: string | number): void; getHeader(n: string): unknown; write(s: string): void; end(): void; headersSent: boolean; _writableState?: { ended: boolean } }
interface PkgClient { transport?: 'udp' | 'tcp'; droppedPackets?: number; remoteAddress: string; remotePort?: number; remoteRtpPort?: number; sendRtcp(buf: Buffer): void }
interface PkgListener { port: number; server: UdpSocket; source?: { address: string; port: number }; sendToSource(buf: Buffer, client?: PkgClient): boolean }
interface PkgStream { id: number; clients: Record<string, PkgClient>; rtpStartPort: number; rtpEndPort: number; listenerRtp?: PkgListener; listenerRtcp?: PkgListener }
interface PkgMount { path: string; sdp: string; streams: Record<string, PkgStream>; createStream(uri: string): PkgStream; setup(): Promise<unknown>; close(): number[] }
interface PkgMounts { mounts: Record<string, PkgMount | undefined>; rtpPorts: number[]; addMount(uri: string, sdp: string): PkgMount; deleteMount(uri: string): boolean; getMount(uri: string): PkgMount | undefined }
interface PkgClientWrapper {
  id: string; mount: PkgMount; clients: Record<string, PkgClient>; keepalive(): void; close(): void; play(): void;
  keepaliveTimeout?: NodeJS.Timeout;
  // Ours (boundSessions): when it was set up and first played, and from where.
  setupAt?: number; playedAt?: number; remoteAddress?: string;
  // Ours (auth): the account that set the session up (only it may use the session), its HA1
  // then, and whether the session was ended because the account changed (revokeSessions).
  user?: string; ha1?: string; revoked?: boolean;
}
interface PkgClientServer { server: Server; clients: Record<string, PkgClientWrapper | undefined> }

const HEADER_MAX_BYTES = 1024; // rtsp-stream's fixed header buffer (its decoder.js)
// A viewer reports every few seconds (RFC 3550 §6.2: 5 s minimum, or ~1 s for ffmpeg); even a
// tuned AVPF receiver sending NACKs every 20 ms stays far below this per mount.
const RTCP_RELAY_PER_S = 200;
/** A removed mount's sockets stay open this long after its BYEs were sent (ms). */
const BYE_GRACE_MS = 100;

const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
/** The current publisher's media socket (port 0: none attached yet, nothing is relayed). */
const source = { address: cfg.sourceAddress, port: 0 };
/** Per mount path: RTP continuity and which publisher (attach generation) owns it. */
interface MountState { ssrc: number; nextSequence: number; seen: boolean; timestampOffset: number | null; generation: number; rtcp: PkgListener }
const mountStates = new Map<string, MountState>();
let generation = 0;
let reclaimTimer: NodeJS.Timeout | undefined;
const send = (m: ChildMessage): void => { if (process.connected) process.send!(m); };
const log = (level: 'info' | 'warn' | 'error', msg: string): void => send({ t: 'log', level, msg });
const guarded: Record<string, number> = {};
const count = (what: string): void => { guarded[what] = (guarded[what] ?? 0) + 1; };
// Bad input from viewers: escaped, bounded, rate-limited per kind (the parent logs what we send).
const badInput = new BadInputLog({ warn: (o, msg) => log('warn', `${msg ?? 'bad input'} ${JSON.stringify(o)}`) });
setInterval(() => badInput.flush(), 60_000).unref();
// Refused sign-ins: user, address and stream, a few lines per minute (never a password or HA1).
const refusedLog = new BadInputLog({ warn: (o, msg) => log('warn', `${msg ?? 'refused'} ${JSON.stringify(o)}`) }, { burst: 10 });
setInterval(() => refusedLog.flush(), 60_000).unref();
const digest = cfg.auth ? new DigestServer({ realm: cfg.auth.realm }) : undefined;
/** How often playing sessions are checked against the accounts (ms). */
const REVOKE_CHECK_MS = 1000;

// The parent is gone: nothing may outlive it (no stale mounts).
process.on('disconnect', () => process.exit(0));
// Ctrl-C in a terminal signals the whole process group; the box stops this child itself
// (RtspOut.close) after its viewers' streams, so the group's SIGINT is not for us.
process.on('SIGINT', () => {});
// Belt and braces: an orphan was seen listening on the RTSP port after its parent process had
// gone (re-parented to init, no 'disconnect'); it held the port, so every later box failed to
// serve. Re-parenting is checked directly.
const parentPid = process.ppid;
setInterval(() => { if (process.ppid !== parentPid) process.exit(0); }, 1000).unref();
// Last resort: a defect not guarded below. Report and exit; the parent restarts us.
process.on('uncaughtException', (e) => { send({ t: 'fatal', message: `uncaught: ${e.stack ?? e}` }); process.exit(70); });
process.on('unhandledRejection', (e) => { send({ t: 'fatal', message: `unhandled rejection: ${(e as Error)?.stack ?? e}` }); process.exit(70); });

const pkg = require('rtsp-streaming-server') as {
  Mounts: new (c: { rtpPortStart: number; rtpPortCount: number }) => PkgMounts;
  ClientServer: new (port: number, mounts: PkgMounts, hooks: object) => PkgClientServer;
  Client: { prototype: { receiveRtcp?: unknown; sendRtp(buf: Buffer): void } };
};
const pkgRequire = createRequire(require.resolve('rtsp-streaming-server'));
const parseTransport = (pkgRequire('./lib/utils') as { parseTransport?: (h: string) => { protocol: 'udp' | 'tcp' } | null }).parseTransport;
checkPatched();
startViewersAtKeyframes();
if (!cfg.unguarded) boundSessions();

if (!cfg.unguarded) guardDecoder();

const mounts = new pkg.Mounts({ rtpPortStart: cfg.rtpPortStart, rtpPortCount: cfg.rtpPortCount });
const clientServer = new pkg.ClientServer(cfg.port, mounts, {});
const server = clientServer.server;

if (!cfg.unguarded) {
  const handlers = server.listeners('request') as ((req: RtspReq, res: RtspRes) => unknown)[];
  server.removeAllListeners('request');
  server.on('request', (req: RtspReq, res: RtspRes) => guardRequest(req, res, handlers));
  server.on('error', (e: Error) => { count('decoder-error'); badInput.report('undecodable-request', '', e.message, 'request decoding failed'); });
  server.maxConnections = cfg.maxConnections;
  server.on('connection', (s: Socket) => {
    s.setTimeout(cfg.idleTimeoutMs, () => { count('idle-timeout'); s.destroy(); });
    s.on('error', () => undefined);
  });
}

if (cfg.auth && !cfg.unguarded) setInterval(revokeSessions, REVOKE_CHECK_MS).unref();

server.once('error', (e: Error) => { send({ t: 'fatal', message: `listen: ${e.message}` }); process.exit(2); });
server.listen(cfg.port, cfg.host, () => {
  server.removeAllListeners('error');
  if (!cfg.unguarded) server.on('error', (e: Error) => { count('decoder-error'); badInput.report('undecodable-request', '', e.message, 'request decoding failed'); });
  const a = server.address();
  send({ t: 'listening', port: typeof a === 'object' && a ? a.port : cfg.port });
});

process.on('message', (m: ParentMessage) => {
  void onParent(m).catch((e: Error) => send({ t: 'failed', id: (m as { id: number }).id, message: e.message }));
});

function mountUri(path: string): string {
  return `rtsp://127.0.0.1:${cfg.port}${path}`;
}

async function onParent(m: ParentMessage): Promise<void> {
  switch (m.t) {
    case 'attach': {
      generation++;
      source.port = m.sourcePort;
      const list: MountRtpState[] = [];
      for (const [path, st] of mountStates) {
        st.rtcp.source = { ...source };
        const stream = mounts.getMount(mountUri(path))?.streams[0];
        if (st.seen && st.timestampOffset !== null && stream?.listenerRtp && stream.listenerRtcp) {
          list.push({ path, ssrc: st.ssrc, nextSequence: st.nextSequence, timestampOffset: st.timestampOffset, rtpPort: stream.listenerRtp.port, rtcpPort: stream.listenerRtcp.port });
        }
      }
      // Mounts the new publisher does not take over in time are channels that are gone.
      clearTimeout(reclaimTimer);
      const gen = generation;
      if (mountStates.size > 0) {
        reclaimTimer = setTimeout(() => {
          for (const [path, st] of mountStates) if (st.generation < gen) { count('mount-not-reclaimed'); removeMount(path); }
        }, cfg.reclaimMs);
      }
      send({ t: 'attached', id: m.id, mounts: list });
      return;
    }
    case 'add': {
      const existing = mounts.getMount(mountUri(m.path));
      const st = mountStates.get(m.path);
      if (existing && st && st.generation < generation) {
        // An earlier publisher's mount, re-added by its successor: taken over with its viewers.
        const stream = existing.streams[0];
        if (stream?.listenerRtp && stream.listenerRtcp) {
          existing.sdp = m.sdp;
          st.generation = generation;
          if (m.rtp) { st.timestampOffset = m.rtp.timestampOffset; if (!st.seen) st.ssrc = m.rtp.ssrc; }
          count('mount-reclaimed');
          const audio = existing.streams[1];
          send({
            t: 'added', id: m.id, path: m.path, rtpPort: stream.listenerRtp.port, rtcpPort: stream.listenerRtcp.port, kept: true,
            ...(audio?.listenerRtp && audio.listenerRtcp ? { audioRtpPort: audio.listenerRtp.port, audioRtcpPort: audio.listenerRtcp.port } : {}),
          });
          return;
        }
      }
      // We own mounts: a path added again replaces the old mount (and ends its viewers' stream).
      if (existing) removeMount(m.path);
      const mount = mounts.addMount(mountUri(m.path), m.sdp);
      const stream = mount.createStream(`${mountUri(m.path)}/streamid=0`);
      // Stream 1: the channel's audio, on its own port pair (its own RTP session, RFC 3550 §5.2).
      const audio = m.audio ? mount.createStream(`${mountUri(m.path)}/streamid=1`) : undefined;
      const err = await mount.setup();
      if (err) { mounts.deleteMount(mountUri(m.path)); throw err as Error; }
      for (const s of audio ? [stream, audio] : [stream]) {
        if (!s.listenerRtp || !s.listenerRtcp) throw new Error('mount has no UDP listeners after setup');
      }
      const state: MountState = { ssrc: m.rtp?.ssrc ?? 0, nextSequence: 0, seen: false, timestampOffset: m.rtp?.timestampOffset ?? null, generation, rtcp: stream.listenerRtcp! };
      mountStates.set(m.path, state);
      onlyFromParent(stream.listenerRtp!.server, state);
      onlyFromParent(stream.listenerRtcp!.server, null);
      relayRtcpToParent(stream.listenerRtcp!);
      if (audio) {
        // Framed like the video; its RTP state is tracked but not kept for a next publisher.
        onlyFromParent(audio.listenerRtp!.server, { ssrc: 0, nextSequence: 0, seen: false, timestampOffset: null, generation, rtcp: audio.listenerRtcp! });
        onlyFromParent(audio.listenerRtcp!.server, null);
        relayRtcpToParent(audio.listenerRtcp!);
      }
      send({
        t: 'added', id: m.id, path: m.path, rtpPort: stream.listenerRtp!.port, rtcpPort: stream.listenerRtcp!.port, kept: false,
        ...(audio ? { audioRtpPort: audio.listenerRtp!.port, audioRtcpPort: audio.listenerRtcp!.port } : {}),
      });
      return;
    }
    case 'update': {
      const mount = mounts.getMount(mountUri(m.path));
      if (!mount) throw new Error(`no mount at ${m.path}`);
      mount.sdp = m.sdp;
      send({ t: 'done', id: m.id });
      return;
    }
    case 'remove':
      removeMount(m.path);
      send({ t: 'done', id: m.id });
      return;
    case 'stats': {
      const list: MountStats[] = [];
      for (const [path, mount] of Object.entries(mounts.mounts)) {
        if (!mount) continue;
        let viewers = 0;
        let tcpViewers = 0;
        let tcpDropped = 0;
        for (const s of Object.values(mount.streams)) {
          for (const c of Object.values(s.clients)) {
            viewers++;
            if (c.transport === 'tcp') { tcpViewers++; tcpDropped += c.droppedPackets ?? 0; }
          }
        }
        const sessions = Object.values(clientServer.clients).filter((c) => c?.mount === mount).length;
        list.push({ path, viewers, sessions, tcpViewers, tcpDropped });
      }
      send({ t: 'stats', id: m.id, mounts: list, sessions: Object.keys(clientServer.clients).length, freeRtpPorts: mounts.rtpPorts.length, guarded });
      return;
    }
  }
}

function removeMount(path: string): void {
  const mount = mounts.getMount(mountUri(path));
  const st = mountStates.get(path);
  mountStates.delete(path);
  if (!mount) return;
  // Gone from the registry at once (a path added again gets a new mount); its sockets close
  // once the BYEs are out: a dgram send waits a tick (address lookup), a close does not.
  for (const [k, m] of Object.entries(mounts.mounts)) if (m === mount) delete mounts.mounts[k];
  const sessions = Object.values(clientServer.clients).filter((w): w is PkgClientWrapper => !!w && w.mount === mount);
  const finish = (): void => {
    // Close the sessions on this mount first, so each returns its ports once (Mount.close alone
    // leaves the sessions registered, and their later timeout would return the ports again).
    for (const w of sessions) w.close();
    mounts.rtpPorts = mounts.rtpPorts.concat(mount.close());
  };
  if (st?.seen && sessions.length > 0) { sayBye(mount, st.ssrc); setTimeout(finish, BYE_GRACE_MS); } else finish();
}

/**
 * The end of a mount's stream, told to each viewer: a compound RTCP packet (an empty receiver
 * report, as RFC 3550 §6.1 wants every compound to start with a report, then a BYE) for the
 * stream's SSRC, on the viewer's RTCP path (its UDP RTCP port, or interleaved on its connection).
 */
function sayBye(mount: PkgMount, ssrc: number): void {
  const bye = byePacket(ssrc);
  for (const s of Object.values(mount.streams)) {
    for (const c of Object.values(s.clients)) {
      try { c.sendRtcp(bye); count('bye-sent'); } catch { /* a viewer already gone */ }
    }
  }
}

function byePacket(ssrc: number): Buffer {
  const bye = Buffer.alloc(16);
  bye.writeUInt32BE(0x80c90001, 0); // V=2, RC=0, PT=201 (RR), length 1
  bye.writeUInt32BE(ssrc >>> 0, 4);
  bye.writeUInt32BE(0x81cb0001, 8); // V=2, SC=1, PT=203 (BYE), length 1
  bye.writeUInt32BE(ssrc >>> 0, 12);
  return bye;
}

/**
 * Sessions whose account was removed, has a new password, or has a role below its channel's
 * now are ended, as a removed mount's are: an RTCP BYE to the session's viewers, then closed.
 * Checked every REVOKE_CHECK_MS (a `stat` of the accounts file; read only when it changed).
 */
function revokeSessions(): void {
  const auth = cfg.auth!;
  const accounts = currentAccounts(auth.accountsFile, auth.realm);
  for (const w of Object.values(clientServer.clients)) {
    if (!w || w.user === undefined || w.revoked) continue;
    const a = accounts.get(w.user);
    const channel = w.mount.path.split('/')[1] ?? '';
    const need = auth.streams[channel] ?? 'viewer';
    if (a && a.ha1 === w.ha1 && roleAtLeast(a.role, need)) continue;
    w.revoked = true;
    count('auth-session-revoked');
    log('warn', `RTSP session of ${w.user} on ${w.mount.path} ended: ${!a ? 'account removed' : a.ha1 !== w.ha1 ? 'password changed' : `role ${a.role} below ${need}`}`);
    const st = mountStates.get(w.mount.path);
    if (st?.seen) for (const c of Object.values(w.clients)) { try { c.sendRtcp(byePacket(st.ssrc)); count('bye-sent'); } catch { /* gone */ } }
    setTimeout(() => { try { w.close(); } catch { /* closed already */ } }, BYE_GRACE_MS);
  }
}

/**
 * Viewers' RTCP goes to the parent's media socket (the publisher of every mount) from the
 * mount's RTCP port, which tells the parent the mount; at most RTCP_RELAY_PER_S a second.
 * Each compound gets an APP 'ORBX' packet naming the viewer's session (its transport and
 * address), because RTCP alone cannot tell two ffmpeg viewers apart (receiver-reports.ts).
 */
function relayRtcpToParent(listener: PkgListener): void {
  listener.source = { ...source };
  const send = listener.sendToSource.bind(listener);
  let windowStart = 0;
  let sent = 0;
  listener.sendToSource = (buf: Buffer, client?: PkgClient): boolean => {
    const now = Date.now();
    if (now - windowStart >= 1000) { windowStart = now; sent = 0; }
    if (++sent > RTCP_RELAY_PER_S) { count('rtcp-relay-limited'); return false; }
    count('rtcp-relayed');
    if (!client) return send(buf);
    const port = client.transport === 'tcp' ? client.remotePort : client.remoteRtpPort;
    // Only the server names a viewer: a label the viewer put in its own RTCP goes.
    const own = stripViewerLabels(buf);
    if (own !== buf) count('forged-label-removed');
    return send(appendViewerLabel(own, `${client.transport ?? 'udp'} ${client.remoteAddress}:${port ?? '?'}`));
  };
}

/**
 * Each viewer starts at a keyframe: until the first packet of an IDR access unit (SPS, PPS or
 * the IDR itself; the packetiser sends SPS and PPS ahead of every IDR) its packets are held
 * back, so a player joining mid-GOP never gets slices whose reference pictures it has not
 * seen (decoders report them as errors and show smeared pictures). It waits at most a GOP.
 * Done once, on the package's viewer class (every viewer of every mount sends through it).
 */
function startViewersAtKeyframes(): void {
  type Viewer = { startedAtKeyframe?: boolean; stream?: { id: number } };
  const proto = pkg.Client.prototype;
  const send = proto.sendRtp;
  proto.sendRtp = function (this: Viewer, buf: Buffer): void {
    // Stream 0 is the video; the audio (stream 1) decodes from any packet.
    if (!this.startedAtKeyframe && (this.stream?.id ?? 0) === 0) {
      if (!startsKeyframe(buf)) { count('viewer-held-to-keyframe'); return; }
      this.startedAtKeyframe = true;
    }
    send.call(this, buf);
  };
}

/**
 * Relays only datagrams from the current publisher's socket; others are counted and dropped.
 * RTP (`rtp`: the mount's state, null for its RTCP port) comes framed (several packets per
 * datagram, each after its 16-bit length: RFC 4571) and is handed to the package one packet at
 * a time, its SSRC and sequence number noted for the next publisher; a datagram whose framing
 * does not add up is dropped from where it stops adding up, and counted.
 */
function onlyFromParent(sock: UdpSocket, rtp: MountState | null): void {
  const relay = sock.listeners('message') as ((b: Buffer, r: RemoteInfo) => void)[];
  sock.removeAllListeners('message');
  sock.on('message', (buf: Buffer, r: RemoteInfo) => {
    if (r.address !== source.address || r.port !== source.port || source.port === 0) { count('foreign-datagram'); return; }
    if (!rtp) { for (const f of relay) f.call(sock, buf, r); return; }
    for (let at = 0; at < buf.length;) {
      const n = at + 2 <= buf.length ? buf.readUInt16BE(at) : -1;
      if (n < 12 || at + 2 + n > buf.length) { count('bad-framing'); return; } // 12: an RTP header
      const packet = buf.subarray(at + 2, at + 2 + n);
      rtp.ssrc = packet.readUInt32BE(8);
      rtp.nextSequence = (packet.readUInt16BE(2) + 1) & 0xffff;
      rtp.seen = true;
      for (const f of relay) f.call(sock, packet, r);
      at += 2 + n;
    }
  });
  sock.on('error', (e) => log('warn', `media socket: ${e.message}`));
}

function reply(res: RtspRes, status: number, what: string): void {
  count(what);
  if (res.headersSent || res._writableState?.ended) return;
  res.statusCode = status;
  res.end();
}

/** The mount path and stream id of a Request-URI, as the package would read them, or null. */
function mountInfo(uri: string): { path: string; streamId: number } | null {
  let url: URL;
  try { url = new URL(uri); } catch { return null; }
  if (url.protocol !== 'rtsp:') return null;
  const m = /^(\/\S+)\/streamid=(\d+)$/.exec(url.pathname);
  return m ? { path: m[1], streamId: Number(m[2]) } : { path: url.pathname, streamId: -1 };
}

/** The accounts file as last read, and what identified that version of it. */
let accountsRead: { key: string; accounts: Map<string, DigestAccount> } | undefined;

/**
 * The accounts, re-read when the file changed (its inode, mtime or size: the store replaces
 * it by a rename). Unreadable or corrupt: no account (every request refused), logged.
 */
function currentAccounts(file: string, realm: string): Map<string, DigestAccount> {
  let key = 'absent';
  try { const st = statSync(file); key = `${st.ino}:${st.mtimeMs}:${st.size}`; } catch { /* absent: no accounts */ }
  if (accountsRead?.key === key) return accountsRead.accounts;
  let accounts = new Map<string, DigestAccount>();
  try { accounts = readDigestAccounts(file, realm); } catch (e) { log('warn', `accounts not read, every RTSP request is refused: ${(e as Error).message}`); }
  accountsRead = { key, accounts };
  return accounts;
}

/**
 * RTSP Digest (edge/access/digest.ts) for a request: true when it may go on. Otherwise answered
 * here: 401 with a challenge (no or wrong credentials, stale nonce), 403 when the account's
 * role is below the channel's (`auth.streams`, default 'viewer') of the Request-URI or of the
 * session's mount, 454 for a session another account set up (as for a session unknown).
 */
function authorized(req: RtspReq, res: RtspRes, path: string, session: PkgClientWrapper | undefined): string | null {
  const auth = cfg.auth!;
  const addr = req.socket.remoteAddress ?? '';
  const accounts = currentAccounts(auth.accountsFile, auth.realm);
  const r = digest!.check(req.method, req.uri, req.headers.authorization, addr, (u) => accounts.get(u)?.ha1);
  const channel = path.split('/')[1] ?? '';
  if (!r.ok) {
    // No Authorization is every player's first try: not worth a line. Stale: the right password.
    if (r.reason !== 'missing' && r.reason !== 'stale') {
      refusedLog.report('rtsp-auth-refused', addr, `user ${r.user ?? '?'} ${req.method} ${path}: ${r.reason}`, 'RTSP request refused (401)');
    }
    if (r.reason === 'unknown-user' && accounts.has(r.user ?? '')) {
      refusedLog.report('rtsp-auth-no-ha1', addr, `user ${r.user}`, 'account has no RTSP credentials for this realm: set its password again');
    }
    count(`auth-401-${r.reason}`);
    if (res.headersSent || res._writableState?.ended) return null;
    res.statusCode = 401;
    res.setHeader('WWW-Authenticate', digest!.challenge(addr, r.reason === 'stale'));
    res.end();
    return null;
  }
  if (session?.user !== undefined && session.user !== r.user) {
    refusedLog.report('rtsp-auth-other-session', addr, `user ${r.user} ${req.method} ${path}: a session of another account`, 'RTSP request refused (454)');
    reply(res, 454, 'auth-454-other-account');
    return null;
  }
  const role = accounts.get(r.user)!.role;
  const channels = [channel, ...(session ? [session.mount.path.split('/')[1] ?? ''] : [])];
  for (const ch of channels) {
    const need = auth.streams[ch] ?? 'viewer';
    if (!roleAtLeast(role, need)) {
      refusedLog.report('rtsp-auth-forbidden', addr, `user ${r.user} (${role}) ${req.method} ${path}: ${ch} needs ${need}`, 'RTSP request refused (403)');
      reply(res, 403, 'auth-403');
      return null;
    }
  }
  return r.user;
}

function guardRequest(req: RtspReq, res: RtspRes, handlers: ((req: RtspReq, res: RtspRes) => unknown)[]): void {
  try {
    const info = mountInfo(req.uri);
    if (!info) return reply(res, 400, 'bad-uri');
    const session = req.headers.session?.split(';')[0];
    const known = session ? clientServer.clients[session] : undefined;
    let user: string | null = null;
    if (cfg.auth && req.method !== 'OPTIONS' && (user = authorized(req, res, info.path, known)) === null) return;
    if (req.method === 'DESCRIBE') {
      const mount = mounts.mounts[info.path];
      if (!mount) return reply(res, 404, 'describe-unknown-path');
      // Answer with the control URL on the authority the viewer used (works behind any name).
      const host = new URL(req.uri).host;
      const sdp = mount.sdp.replace(/a=control:rtsp:\/\/[^/\s]+/g, `a=control:rtsp://${host}`);
      res.setHeader('Content-Type', 'application/sdp');
      res.setHeader('Content-Base', `rtsp://${host}${info.path}/`);
      res.setHeader('Content-Length', Buffer.byteLength(sdp));
      res.write(sdp);
      res.end();
      return;
    }
    if (req.method === 'SETUP') {
      const transport = parseTransport!(req.headers.transport ?? '');
      if (!transport) return reply(res, 461, 'setup-bad-transport');
      if (session && !known) return reply(res, 454, 'setup-unknown-session');
      const mount = mounts.mounts[info.path];
      if (!mount || info.streamId < 0 || !mount.streams[info.streamId]) return reply(res, 404, 'setup-unknown-path');
      if (known && known.mount !== mount) return reply(res, 459, 'setup-other-mount');
      if (!known) {
        const addr = req.socket.remoteAddress ?? '';
        const all = Object.values(clientServer.clients).filter((w): w is PkgClientWrapper => !!w);
        const mine = all.filter((w) => w.remoteAddress === addr);
        if (mine.length + (pendingSetups.get(addr) ?? 0) >= cfg.maxSessionsPerClient && !evictUnplayed(mine)) return reply(res, 453, 'setup-client-cap');
        if (Object.keys(clientServer.clients).length + pendingTotal() >= cfg.maxSessions && !evictUnplayed(all)) return reply(res, 453, 'setup-too-many-sessions');
      }
      // TCP viewers need no ports: their media goes on this connection.
      if (transport.protocol === 'udp' && mounts.rtpPorts.length === 0) {
        const udp = Object.values(clientServer.clients).filter((w): w is PkgClientWrapper => !!w && Object.values(w.clients).some((c) => c.transport !== 'tcp'));
        if (!evictUnplayed(udp) || mounts.rtpPorts.length === 0) return reply(res, 453, 'setup-no-ports');
      }
    }
    const setupFrom = req.method === 'SETUP' && !known ? req.socket.remoteAddress ?? '' : null;
    if (setupFrom !== null) pendingSetups.set(setupFrom, (pendingSetups.get(setupFrom) ?? 0) + 1);
    const settled = (): void => {
      if (setupFrom === null) return;
      const n = (pendingSetups.get(setupFrom) ?? 1) - 1;
      if (n > 0) pendingSetups.set(setupFrom, n); else pendingSetups.delete(setupFrom);
    };
    for (const h of handlers) {
      const r = h(req, res) as Promise<unknown> | undefined;
      if (r && typeof r.then === 'function') {
        r.then(() => {
          settled();
          if (req.method !== 'SETUP') return;
          // Reap sessions that SETUP and never PLAY: start their keepalive clock now.
          const id = String(res.getHeader('Session') ?? '').split(';')[0];
          const w = clientServer.clients[id];
          if (!w) return;
          w.remoteAddress ??= req.socket.remoteAddress ?? '';
          if (user !== null && w.user === undefined) { w.user = user; w.ha1 = currentAccounts(cfg.auth!.accountsFile, cfg.auth!.realm).get(user)?.ha1; }
          w.keepalive();
        }, (e: Error) => { settled(); badInput.report('request-rejected', req.socket?.remoteAddress ?? '', `${req.method} ${req.uri}: ${e.message}`); reply(res, 500, 'handler-rejected'); });
      } else settled();
    }
    if (handlers.length === 0) settled();
  } catch (e) {
    badInput.report('request-threw', req.socket?.remoteAddress ?? '', `${req.method} ${req.uri}: ${(e as Error).message}`);
    reply(res, 500, 'handler-threw');
  }
}

/** SETUPs of new sessions being handled, per source address (the package's handler is async). */
const pendingSetups = new Map<string, number>();
const pendingTotal = (): number => { let n = 0; for (const v of pendingSetups.values()) n += v; return n; };

/** Closes the oldest session of `among` that never played; false when every one plays. */
function evictUnplayed(among: PkgClientWrapper[]): boolean {
  let oldest: PkgClientWrapper | undefined;
  for (const w of among) if (w.playedAt === undefined && (!oldest || (w.setupAt ?? 0) < (oldest.setupAt ?? 0))) oldest = w;
  if (!oldest) return false;
  count('session-evicted-unplayed');
  try { oldest.close(); } catch { /* closed twice: gone anyway */ }
  return true;
}

/**
 * Session lifetimes the package got wrong (see the header): a session that never plays lives
 * `unplayedSessionMs` from its SETUP whatever it sends; a playing one lives `sessionTimeoutMs`
 * after its last keepalive (RTSP request or RTCP), the package's own 60 s replaced.
 */
function boundSessions(): void {
  const proto = (pkgRequire('./lib/ClientWrapper') as { ClientWrapper: { prototype: PkgClientWrapper } }).ClientWrapper.prototype;
  const play = proto.play;
  proto.play = function (this: PkgClientWrapper): void {
    this.playedAt ??= Date.now();
    play.call(this);
  };
  proto.keepalive = function (this: PkgClientWrapper): void {
    clearTimeout(this.keepaliveTimeout);
    this.setupAt ??= Date.now();
    const played = this.playedAt !== undefined;
    const ms = played ? cfg.sessionTimeoutMs : Math.max(0, this.setupAt + cfg.unplayedSessionMs - Date.now());
    this.keepaliveTimeout = setTimeout(() => {
      count(played ? 'session-timeout' : 'session-never-played');
      try { this.close(); } catch { /* closed already */ }
    }, ms);
  };
}

/**
 * Refuses to run the package without its patches (patches/README.md): without them TCP viewers
 * get 461 and viewers' reports never reach the box, with no other sign of why.
 */
function checkPatched(): void {
  const streamRequire = createRequire(require.resolve('rtsp-server'));
  const Encoder = streamRequire('rtsp-stream').Encoder as { prototype: { interleaved?: unknown } };
  const missing = [
    typeof Encoder.prototype.interleaved !== 'function' && 'rtsp-stream (interleaved frames)',
    typeof (require('rtsp-server') as { InterleavedChannels?: unknown }).InterleavedChannels !== 'function' && 'rtsp-server (req.interleaved)',
    (typeof pkg.Client.prototype.receiveRtcp !== 'function' || typeof parseTransport !== 'function') && 'rtsp-streaming-server (TCP transport, RTCP relay)',
  ].filter(Boolean);
  if (missing.length) {
    send({ t: 'fatal', message: `unpatched RTSP packages in ${require.resolve('rtsp-streaming-server')}: ${missing.join(', ')}; run npm ci (its postinstall applies patches/)` });
    process.exit(78);
  }
}

/** Makes a throw inside the request decoder an error of that connection, not of the process. */
function guardDecoder(): void {
  const rtspServerRequire = createRequire(require.resolve('rtsp-server'));
  const Decoder = rtspServerRequire('rtsp-stream').Decoder as {
    prototype: { _write(chunk: Buffer, enc: string, cb: (e?: Error) => void): void; _inBody: boolean; _headerOffset: number };
  };
  const write = Decoder.prototype._write;
  Decoder.prototype._write = function (this: typeof Decoder.prototype, chunk, enc, cb) {
    let called = false;
    const once = (e?: Error): void => { if (!called) { called = true; cb(e); } };
    try {
      write.call(this, chunk, enc, once);
    } catch (e) {
      count('decoder-threw');
      once(e as Error);
      return;
    }
    if (!this._inBody && this._headerOffset > HEADER_MAX_BYTES) {
      count('header-too-large');
      // The write already completed; fail the stream so the package closes the connection.
      (this as unknown as { destroy(e: Error): void }).destroy(new Error('RTSP header larger than 1024 bytes'));
    }
  };
}

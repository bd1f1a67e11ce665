/**
 * Messages between RtspOut (the publisher, in net-send) and the RTSP server child process
 * (server-child.ts). The child is forked and owned by RtspServerHost (server-host.ts, on the
 * supervisor's thread in a box), which relays ParentMessage/ChildMessage between the child's
 * IPC channel and the MessagePort of the current publisher (renumbering request ids, so a
 * reply to a dead publisher never reaches its successor), and adds HostMessage 'up'/'down'.
 * Plain JSON, no binary: media never crosses IPC, it goes over loopback UDP to the ports a
 * mount reports; viewers' RTCP comes back the same way, from the mount's RTCP port to the
 * publisher's media socket (named by 'attach').
 */

import type { Role } from '../../access/index.js';

/** Configuration handed to the child as its single argv argument (JSON). */
export interface ChildConfig {
  /** Address the RTSP TCP server listens on. */
  host: string;
  port: number;
  /** Even port range the package allocates RTP/RTCP port pairs from (mounts and viewers). */
  rtpPortStart: number;
  rtpPortCount: number;
  /** Only RTP/RTCP from this loopback address and port is relayed to viewers; the port is each publisher's ('attach'). */
  sourceAddress: string;
  /** A mount a new publisher has not re-added this long after its 'attach' is removed (ms). */
  reclaimMs: number;
  /** Most concurrent RTSP TCP connections, and RTSP sessions. */
  maxConnections: number;
  maxSessions: number;
  /** Idle RTSP TCP connections are closed after this. */
  idleTimeoutMs: number;
  /** A session that has not played this long after its SETUP is closed (ms). */
  unplayedSessionMs: number;
  /** A playing session silent this long is closed (ms; the advertised timeout=30 plus a grace). */
  sessionTimeoutMs: number;
  /** Most sessions one source address may hold. */
  maxSessionsPerClient: number;
  /** Test hook: run the package without the guards (to show what they prevent). */
  unguarded?: boolean;
  /** RTSP Digest authentication of every request but OPTIONS; absent: none (server-child.ts). */
  auth?: RtspAuthConfig;
}

/** Who may watch what: read by the child, which reads the accounts file itself. */
export interface RtspAuthConfig {
  /** The Digest realm; accounts need an HA1 for it (accounts.ts `digestRealms`). */
  realm: string;
  /** `<dataDir>/access/accounts.json` (accounts.ts), re-read when it changes. */
  accountsFile: string;
  /** Least role per channel (the first segment of a mount path); others need 'viewer'. */
  streams: Record<string, Role>;
}

/** A mount's RTP stream as the child saw it: what a restarted publisher continues from. */
export interface MountRtpState {
  path: string;
  ssrc: number;
  /** The sequence number after the last packet relayed. */
  nextSequence: number;
  /** The publisher's RTP timestamp offset (H264Packetizer: ts = offset + box wall time at 90 kHz). */
  timestampOffset: number;
  /** The mount's relay ports: the successor sends there at once, before its 'add' is answered. */
  rtpPort: number;
  rtcpPort: number;
}

export type ParentMessage =
  /**
   * First message of each publisher (net-send incarnation): its media socket's port. Mounts
   * of earlier publishers stay, with their viewers, for `reclaimMs`: an 'add' of the same
   * path in that time takes the mount over; the rest are removed (with an RTCP BYE).
   */
  | { t: 'attach'; id: number; sourcePort: number }
  /**
   * `audio`: the mount also has stream 1 (`streamid=1`), the channel's audio track.
   * `rtp`: the video stream's SSRC and timestamp offset, remembered for the next publisher.
   */
  | { t: 'add'; id: number; path: string; sdp: string; audio?: boolean; rtp?: { ssrc: number; timestampOffset: number } }
  | { t: 'update'; id: number; path: string; sdp: string }
  | { t: 'remove'; id: number; path: string }
  | { t: 'stats'; id: number };

export interface MountStats {
  path: string;
  /** Viewers playing (UDP and TCP). */
  viewers: number;
  sessions: number;
  /** Of the viewers, those with RTP interleaved on their RTSP connection. */
  tcpViewers: number;
  /** Packets not sent to TCP viewers whose connection had too much queued (slow readers). */
  tcpDropped: number;
}

export type ChildMessage =
  | { t: 'listening'; port: number }
  | { t: 'attached'; id: number; mounts: MountRtpState[] }
  /** `kept`: the mount (and its viewers) of an earlier publisher, taken over. */
  | { t: 'added'; id: number; path: string; rtpPort: number; rtcpPort: number; audioRtpPort?: number; audioRtcpPort?: number; kept: boolean }
  | { t: 'done'; id: number }
  | { t: 'failed'; id: number; message: string }
  | { t: 'stats'; id: number; mounts: MountStats[]; sessions: number; freeRtpPorts: number; guarded: Record<string, number> }
  | { t: 'log'; level: 'info' | 'warn' | 'error'; msg: string }
  | { t: 'fatal'; message: string };

/** From RtspServerHost to a publisher's port, besides the child's relayed answers. */
export type HostMessage =
  /** The child listens on `port` (sent on attach when it already does, and after each restart). */
  | { t: 'up'; port: number; pid: number }
  /** The child died; its mounts and viewers are gone; the host restarts it. */
  | { t: 'down'; reason: string };

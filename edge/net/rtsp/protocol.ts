/**
 * Messages between RtspOut (parent, in net-send) and the RTSP server child process
 * (server-child.ts), over the child_process IPC channel. Plain JSON, no binary: media never
 * crosses IPC, it goes over loopback UDP to the ports a mount reports; viewers' RTCP comes
 * back the same way, from the mount's RTCP port to the parent's media socket.
 */

/** Configuration handed to the child as its single argv argument (JSON). */
export interface ChildConfig {
  /** Address the RTSP TCP server listens on. */
  host: string;
  port: number;
  /** Even port range the package allocates RTP/RTCP port pairs from (mounts and viewers). */
  rtpPortStart: number;
  rtpPortCount: number;
  /** Only RTP/RTCP from this loopback address and port is relayed to viewers. */
  sourceAddress: string;
  sourcePort: number;
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
}

export type ParentMessage =
  /** `audio`: the mount also has stream 1 (`streamid=1`), the channel's audio track. */
  | { t: 'add'; id: number; path: string; sdp: string; audio?: boolean }
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
  | { t: 'added'; id: number; path: string; rtpPort: number; rtcpPort: number; audioRtpPort?: number; audioRtcpPort?: number }
  | { t: 'done'; id: number }
  | { t: 'failed'; id: number; message: string }
  | { t: 'stats'; id: number; mounts: MountStats[]; sessions: number; freeRtpPorts: number; guarded: Record<string, number> }
  | { t: 'log'; level: 'info' | 'warn' | 'error'; msg: string }
  | { t: 'fatal'; message: string };

/**
 * A hostile RTSP client: raw TCP requests a well-behaved player would never send, each on its
 * own connection, to check that the server answers or closes and keeps serving.
 * Each attack returns what happened (status code, closed, or silence) for the test to judge.
 */
import { connect, type Socket } from 'node:net';

export interface AttackResult { name: string; status: number | null; closed: boolean; bytes: number }

export interface Attack { name: string; payload: (base: string) => string | Buffer; abortAfterWrite?: boolean }

/** The attacks; `base` is `rtsp://host:port`, `path` a mount that exists. */
export function attacks(path: string): Attack[] {
  const req = (line: string, headers: string[] = []): string => [line, 'CSeq: 1', ...headers, '', ''].join('\r\n');
  return [
    { name: 'binary garbage with a blank line', payload: () => Buffer.concat([Buffer.from([0xff, 0x00, 0x13, 0x37, 0x80]), Buffer.from('\r\n\r\n')]) },
    { name: 'invalid request line', payload: () => 'HELLO THERE\r\n\r\n' },
    { name: 'HTTP instead of RTSP', payload: () => 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' },
    { name: 'OPTIONS *', payload: () => req('OPTIONS * RTSP/1.0') },
    { name: 'DESCRIBE unknown path', payload: (b) => req(`DESCRIBE ${b}/nope/hq RTSP/1.0`) },
    { name: 'SETUP unknown path', payload: (b) => req(`SETUP ${b}/nope/hq/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP;unicast;client_port=5000-5001']) },
    { name: 'SETUP relative-resolved path (rtspsrc style)', payload: (b) => req(`SETUP ${b}${path.split('/').slice(0, 2).join('/')}/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP;unicast;client_port=5000-5001']) },
    { name: 'SETUP unknown stream id', payload: (b) => req(`SETUP ${b}${path}/streamid=7 RTSP/1.0`, ['Transport: RTP/AVP;unicast;client_port=5000-5001']) },
    { name: 'SETUP without Transport', payload: (b) => req(`SETUP ${b}${path}/streamid=0 RTSP/1.0`) },
    { name: 'SETUP with Transport but no client_port', payload: (b) => req(`SETUP ${b}${path}/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP;unicast']) },
    { name: 'SETUP TCP interleaved, then vanish', payload: (b) => req(`SETUP ${b}${path}/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1']), abortAfterWrite: true },
    { name: 'SETUP TCP interleaved channel 300', payload: (b) => req(`SETUP ${b}${path}/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP/TCP;unicast;interleaved=300-301']) },
    { name: 'SETUP multicast', payload: (b) => req(`SETUP ${b}${path}/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP;multicast;client_port=5000-5001']) },
    { name: 'interleaved frame before any request', payload: () => Buffer.from([0x24, 1, 0, 8, 0x80, 201, 0, 1, 1, 2, 3, 4]) },
    { name: 'interleaved frame claiming 64 KB, then silence', payload: () => Buffer.from([0x24, 0, 0xff, 0xff, 1, 2, 3]) },
    { name: 'SETUP with unknown session', payload: (b) => req(`SETUP ${b}${path}/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP;unicast;client_port=5000-5001', 'Session: deadbeef']) },
    { name: 'SETUP on the mount path itself', payload: (b) => req(`SETUP ${b}${path} RTSP/1.0`, ['Transport: RTP/AVP;unicast;client_port=5000-5001']) },
    { name: 'PLAY without session', payload: (b) => req(`PLAY ${b}${path} RTSP/1.0`) },
    { name: 'TEARDOWN unknown session', payload: (b) => req(`TEARDOWN ${b}${path} RTSP/1.0`, ['Session: 1234']) },
    { name: 'ANNOUNCE (publishing is not offered)', payload: (b) => `ANNOUNCE ${b}${path} RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 5\r\n\r\nv=0\r\n` },
    { name: 'oversized header (8 KB)', payload: (b) => req(`DESCRIBE ${b}${path} RTSP/1.0`, [`X-Junk: ${'a'.repeat(8192)}`]) },
    { name: 'header that never ends', payload: (b) => `DESCRIBE ${b}${path} RTSP/1.0\r\nX: ${'b'.repeat(3000)}` },
    { name: 'abrupt disconnect mid-request', payload: (b) => `SETUP ${b}${path}/streamid=0 RTSP/1.0\r\nTransp`, abortAfterWrite: true },
    { name: 'abrupt disconnect after SETUP', payload: (b) => req(`SETUP ${b}${path}/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP;unicast;client_port=5002-5003']), abortAfterWrite: true },
    { name: 'huge Content-Length', payload: (b) => `OPTIONS ${b}${path} RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 99999999999\r\n\r\nxx` },
  ];
}

/** Runs one attack: connects, writes, waits up to `waitMs` for an answer or a close. */
export function runAttack(host: string, port: number, a: Attack, waitMs = 1500): Promise<AttackResult> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    let data = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const m = /^RTSP\/1\.0 (\d{3})/.exec(data);
      s.destroy();
      resolve({ name: a.name, status: m ? Number(m[1]) : null, closed, bytes: data.length });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.on('error', () => finish(true));
    s.on('close', () => finish(true));
    s.setEncoding('latin1');
    s.on('data', (d: string) => { data += d; if (/\r\n\r\n/.test(data)) finish(false); });
    s.on('connect', () => {
      s.write(a.payload(`rtsp://${host}:${port}`));
      if (a.abortAfterWrite) setTimeout(() => { s.resetAndDestroy(); finish(true); }, 50);
    });
  });
}

/**
 * A raw TCP-interleaved viewer session on one connection (SETUP RTP/AVP/TCP interleaved=0-1,
 * PLAY), for hostile behaviour once it plays: stop reading, vanish, write garbage, flood RTCP.
 * Counts the '$' frames it receives while it reads.
 */
export class RawTcpViewer {
  readonly sock: Socket;
  frames = 0;
  private buf = Buffer.alloc(0);
  private heads: string[] = [];
  private cseq = 0;

  constructor(host: string, port: number) {
    this.sock = connect(port, host);
    this.sock.on('error', () => undefined);
    this.sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        if (this.buf.length && this.buf[0] === 0x24) {
          if (this.buf.length < 4 || this.buf.length < 4 + this.buf.readUInt16BE(2)) return;
          this.buf = this.buf.subarray(4 + this.buf.readUInt16BE(2));
          this.frames++;
          continue;
        }
        const i = this.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        this.heads.push(this.buf.subarray(0, i).toString('latin1'));
        this.buf = this.buf.subarray(i + 4);
      }
    });
  }

  /** SETUP + PLAY of `url` (a mount), interleaved on this connection. @throws naming the step that failed. */
  async play(url: string): Promise<void> {
    const setup = await this.request(`SETUP ${url}/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1']);
    const session = /\r\nSession: ([^;\r\n]+)/i.exec(setup)?.[1];
    if (!/^RTSP\/1\.0 200/.test(setup) || !session) throw new Error(`SETUP ${url} (TCP) failed: ${setup.split('\r\n')[0] || 'no answer'}`);
    const play = await this.request(`PLAY ${url} RTSP/1.0`, [`Session: ${session}`]);
    if (!/^RTSP\/1\.0 200/.test(play)) throw new Error(`PLAY ${url} failed: ${play.split('\r\n')[0] || 'no answer'}`);
  }

  /** Writes `count` RTCP-shaped receiver reports on channel 1 as fast as the socket takes them. */
  floodRtcp(count: number): void {
    const rr = Buffer.from([0x24, 1, 0, 32, 0x81, 201, 0, 7, 1, 2, 3, 4, ...new Array(24).fill(0)]);
    this.sock.write(Buffer.concat(new Array(count).fill(rr)));
  }

  private async request(line: string, headers: string[]): Promise<string> {
    const n = this.heads.length;
    this.sock.write([line, `CSeq: ${++this.cseq}`, ...headers, '', ''].join('\r\n'));
    for (let i = 0; i < 150 && this.heads.length === n; i++) await new Promise((r) => setTimeout(r, 20));
    return this.heads[n] ?? '';
  }
}

/**
 * A hostile RTSP client: raw TCP requests a well-behaved player would never send, each on its
 * own connection, to check that the server answers or closes and keeps serving.
 * Each attack returns what happened (status code, closed, or silence) for the test to judge.
 */
import { connect } from 'node:net';

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
    { name: 'SETUP TCP interleaved', payload: (b) => req(`SETUP ${b}${path}/streamid=0 RTSP/1.0`, ['Transport: RTP/AVP/TCP;unicast;interleaved=0-1']) },
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

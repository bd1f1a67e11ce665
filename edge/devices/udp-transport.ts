/**
 * The LAN transport of IntelliVue Data Export: UDP to the monitor's port 24105, one protocol
 * message per datagram (the serial framing does not exist on the LAN; the driver runs in
 * datagram mode). Same contract as the serial transport (transport.ts): open() resolves once
 * datagrams can flow; onData gets each datagram; write() never throws. UDP has no cable to
 * pull: silence is detected by the driver, which re-associates, as on serial.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { parseUdpPath } from './port-path.js';
import type { PortTransport } from './transport.js';

export class UdpTransport implements PortTransport {
  private socket: Socket | undefined;
  private dataCb: (chunk: Uint8Array) => void = () => {};
  private readonly target: { host: string; port: number };

  constructor(path: string) {
    const t = parseUdpPath(path);
    if (!t) throw new RangeError(`expected udp://<host>[:<port>], got "${path}"`);
    this.target = t;
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = createSocket(isIP(this.target.host) === 6 ? 'udp6' : 'udp4');
      s.once('error', reject);
      s.on('message', (msg, rinfo) => {
        // Only the monitor we talk to; anything else on the port is not ours.
        if (rinfo.port === this.target.port) this.dataCb(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength));
      });
      s.bind(0, () => {
        s.off('error', reject);
        s.on('error', () => { /* a refused datagram (ICMP) is silence to the driver */ });
        this.socket = s;
        resolve();
      });
    });
  }

  write(bytes: Uint8Array): void {
    this.socket?.send(bytes, this.target.port, this.target.host);
  }

  close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    return s ? new Promise((r) => s.close(() => r())) : Promise.resolve();
  }

  onData(cb: (chunk: Uint8Array) => void): void {
    this.dataCb = cb;
  }

  onClose(): void {
    // A UDP socket does not go away by itself.
  }
}

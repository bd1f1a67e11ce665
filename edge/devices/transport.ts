/**
 * The byte transport under a driver: a serial port (serialport 13) in the box, anything with the
 * same contract in tests. Contract: open() resolves once bytes can flow or rejects; onData gets
 * every read (at least one byte); onClose fires once when the port goes away by itself (cable or
 * adapter pulled, pty peer gone), never after close() was called; write() queues and never throws.
 */
import { SerialPort } from 'serialport';
import type { ResolvedPortConfig } from './config.js';

export interface PortTransport {
  open(): Promise<void>;
  write(bytes: Uint8Array): void;
  close(): Promise<void>;
  onData(cb: (chunk: Uint8Array) => void): void;
  onClose(cb: (reason: string) => void): void;
}

export type TransportFactory = (cfg: ResolvedPortConfig) => PortTransport;

export class SerialTransport implements PortTransport {
  private port: SerialPort | undefined;
  private dataCb: (chunk: Uint8Array) => void = () => {};
  private closeCb: (reason: string) => void = () => {};
  private closing = false;
  private closedFired = false;
  constructor(private readonly cfg: ResolvedPortConfig) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({
        path: this.cfg.path,
        baudRate: this.cfg.baudRate,
        dataBits: this.cfg.dataBits,
        stopBits: this.cfg.stopBits,
        parity: this.cfg.parity,
        rtscts: this.cfg.rtscts,
        autoOpen: false,
      });
      port.open((err) => {
        if (err) {
          reject(err);
          return;
        }
        this.port = port;
        port.on('data', (b: Buffer) => this.dataCb(b));
        port.on('error', () => {
          /* followed by close; the reason is reported there */
        });
        port.on('close', (e: (Error & { disconnected?: boolean }) | null) => {
          if (this.closing || this.closedFired) return;
          this.closedFired = true;
          this.closeCb(e?.message ?? 'port closed');
        });
        resolve();
      });
    });
  }

  write(bytes: Uint8Array): void {
    const p = this.port;
    if (!p || !p.isOpen) return;
    p.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (err) => {
      if (err && !this.closing && !this.closedFired) {
        this.closedFired = true;
        this.closeCb(`write failed: ${err.message}`);
      }
    });
  }

  close(): Promise<void> {
    this.closing = true;
    const p = this.port;
    this.port = undefined;
    if (!p || !p.isOpen) return Promise.resolve();
    return new Promise((resolve) => p.close(() => resolve()));
  }

  onData(cb: (chunk: Uint8Array) => void): void {
    this.dataCb = cb;
  }

  onClose(cb: (reason: string) => void): void {
    this.closeCb = cb;
  }
}

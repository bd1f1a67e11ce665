/**
 * The simulator's end of a pty pair, opened with serialport like any serial device. Reopenable
 * (after a replug); writes while closed are dropped, as on a real unplugged cable.
 */
import { SerialPort } from 'serialport';

export class SimPort {
  private port: SerialPort | undefined;
  constructor(
    readonly path: string,
    private readonly baudRate: number,
    private readonly onData: (chunk: Uint8Array) => void,
  ) {}

  get isOpen(): boolean {
    return !!this.port?.isOpen;
  }

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = new SerialPort({ path: this.path, baudRate: this.baudRate, autoOpen: false });
      p.open((err) => {
        if (err) return reject(err);
        this.port = p;
        p.on('data', (b: Buffer) => this.onData(b));
        p.on('error', () => {});
        p.on('close', () => {
          if (this.port === p) this.port = undefined;
        });
        resolve();
      });
    });
  }

  write(bytes: Uint8Array): void {
    const p = this.port;
    if (!p?.isOpen) return;
    p.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), () => {});
  }

  /** Resolves when everything written so far went out. */
  drain(): Promise<void> {
    const p = this.port;
    if (!p?.isOpen) return Promise.resolve();
    return new Promise((r) => p.drain(() => r()));
  }

  close(): Promise<void> {
    const p = this.port;
    this.port = undefined;
    if (!p?.isOpen) return Promise.resolve();
    return new Promise((r) => p.close(() => r()));
  }
}

/** Common shape of the three simulators. */
export interface DeviceSimulator {
  /** Opens the device end and starts talking. */
  start(): Promise<void>;
  /** Closes the device end (cable pulled on the device side) and reopens it. */
  reopen(): Promise<void>;
  /** Stops answering and sending (a device that went silent) until called with false. */
  setSilent(on: boolean): void;
  /** Sends raw bytes between messages (line noise). */
  injectNoise(bytes: Uint8Array): void;
  close(): Promise<void>;
  readonly stats: Record<string, number>;
}

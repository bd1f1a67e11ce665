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

/** What a protocol's device core offers its pty wrapper. */
export interface SimCore {
  receive(chunk: Uint8Array): void;
  tick(): void;
  silent: boolean;
  readonly stats: Record<string, number>;
}

/**
 * A device core on the device end of a pty: the wrapper all three simulators share (open,
 * tick, replug, silence, noise, close); each protocol supplies its core, line rate and tick.
 */
export class PtySimulator<Core extends SimCore> implements DeviceSimulator {
  readonly core: Core;
  private readonly port: SimPort;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly path: string,
    baudRate: number,
    private readonly tickMs: number,
    makeCore: (write: (b: Uint8Array) => void, now: () => number) => Core,
  ) {
    this.port = new SimPort(path, baudRate, (c) => this.core.receive(c));
    this.core = makeCore((b) => this.port.write(b), () => Date.now());
  }
  get stats(): Record<string, number> {
    return this.core.stats;
  }
  async start(): Promise<void> {
    await this.port.open();
    this.timer = setInterval(() => this.core.tick(), this.tickMs);
  }
  async reopen(): Promise<void> {
    await this.port.close();
    await this.port.open();
  }
  setSilent(on: boolean): void {
    this.core.silent = on;
  }
  injectNoise(bytes: Uint8Array): void {
    this.port.write(bytes);
  }
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.port.close();
  }
}

/**
 * A driver and a simulator core joined in memory on a virtual clock: byte-exact like the pty
 * path, but deterministic and as fast as the CPU. Used by unit tests and the bench.
 */
import type { DriverHost, ProtocolDriver } from '../../edge/devices/driver.js';
import type { ConnectionState, SampleDraft } from '../../edge/devices/sample.js';

export interface SimCore {
  receive(chunk: Uint8Array): void;
  tick(): void;
}

export class VirtualLink {
  /** Virtual wall time in ms. */
  t: number;
  readonly toDevice: Uint8Array[] = [];
  readonly toHost: Uint8Array[] = [];
  readonly samples: SampleDraft[] = [];
  readonly states: { state: ConnectionState; atMs: number; detail?: string }[] = [];
  deviceId = '';
  /** When set, device->host bytes are dropped (a cable pulled mid-way). */
  cut = false;
  /** Optional transform of each device->host chunk (split it, add noise, ...). */
  mangle: ((chunk: Uint8Array) => Uint8Array[]) | undefined;
  driver!: ProtocolDriver;
  core!: SimCore;
  readonly host: DriverHost;

  constructor(startMs = 1_700_000_000_000) {
    this.t = startMs;
    this.host = {
      now: () => ({ wallNs: BigInt(Math.round(this.t * 1000)) * 1000n, monoNs: BigInt(Math.round(this.t * 1000)) * 1000n }),
      write: (b) => this.toDevice.push(b.slice()),
      emit: (d) => this.samples.push(d),
      setState: (state, detail) => this.states.push({ state, atMs: this.t, ...(detail ? { detail } : {}) }),
      setDeviceId: (id) => (this.deviceId = id),
    };
  }

  nowMs = (): number => this.t;
  deviceSend = (b: Uint8Array): void => {
    this.toHost.push(b.slice());
  };

  attach(driver: ProtocolDriver, core: SimCore): this {
    this.driver = driver;
    this.core = core;
    return this;
  }

  /** Advances virtual time in steps, moving bytes both ways after each step. */
  run(ms: number, stepMs = 8): void {
    const end = this.t + ms;
    while (this.t < end) {
      this.t += stepMs;
      this.core.tick();
      this.driver.tick();
      this.pump();
    }
  }

  pump(): void {
    for (let guard = 0; guard < 100 && (this.toDevice.length || this.toHost.length); guard++) {
      while (this.toDevice.length) {
        const b = this.toDevice.shift()!;
        if (!this.cut) this.core.receive(b);
      }
      while (this.toHost.length) {
        const b = this.toHost.shift()!;
        if (this.cut) continue;
        for (const c of this.mangle ? this.mangle(b) : [b]) this.driver.receive(c);
      }
    }
  }
}

/**
 * A simulated Draeger anesthesia machine on MEDIBUS / MEDIBUS.X: answers ICC, device id,
 * measured data (code page 1) and alarms, keeps its own NOP going to the host (and expects the
 * answer), serves the real-time configuration and streams configured curves as real-time bytes,
 * some of them in the middle of its ASCII responses. Optionally corrupts every Nth response's
 * checksum so the host must NAK and get a repeat.
 */
import { asciiBytes, encodeMessage, encodeRealtime, ESC, MedibusFramer, NAK, SOH } from '../../edge/devices/medibus/frame.js';
import { formatCurveIds, formatMeasured, formatRealtimeConfig, MB, parseCurveIds, type CurveConfig } from '../../edge/devices/medibus/codec.js';
import { VitalsScript } from '../../edge/demo/script.js';
import { PtySimulator } from '../../edge/demo/sim-port.js';

export interface MedibusSimOptions {
  script?: VitalsScript;
  /** Corrupt the checksum of every Nth response (0 = never). */
  corruptEvery?: number;
  /** Put a real-time frame inside ASCII responses while curves run (default true). */
  interleave?: boolean;
  /** Device NOP to the host every this many ms (0 = never; default 3000). */
  deviceNopMs?: number;
}

export const SIM_CURVES: readonly CurveConfig[] = [
  { id: 0x00, periodUs: 8000, min: -20, max: 80 },
  { id: 0x01, periodUs: 8000, min: -100, max: 100 },
  { id: 0x06, periodUs: 8000, min: 0, max: 100 },
];

export class MedibusDeviceCore {
  private readonly framer = new MedibusFramer();
  private readonly startMs: number;
  private active: CurveConfig[] = [];
  private rtNextMs = 0;
  private responses = 0;
  private lastResponse: Uint8Array | undefined;
  private lastNopMs = 0;
  silent = false;
  readonly stats = { commands: 0, responses: 0, naksSent: 0, naksReceived: 0, hostAnswers: 0, rtFrames: 0, corrupted: 0 };
  private readonly sink = {
    message: (m: { start: number; cmd: number; data: Uint8Array }) => this.onMessage(m),
    realtime: () => {},
    nak: () => {
      this.stats.naksReceived++;
      if (this.lastResponse) this.send(this.lastResponse);
    },
    badChecksum: () => {
      this.stats.naksSent++;
      this.send(Uint8Array.of(NAK));
    },
  };

  constructor(
    private readonly send: (b: Uint8Array) => void,
    private readonly nowMs: () => number,
    private readonly opts: MedibusSimOptions = {},
    readonly script = opts.script ?? new VitalsScript(),
  ) {
    this.startMs = nowMs();
    this.lastNopMs = this.startMs;
  }

  receive(chunk: Uint8Array): void {
    if (this.silent || this.script.at(this.nowMs() - this.startMs).silent) return;
    this.framer.feed(chunk, this.sink);
  }

  private rtFrame(tMs: number): Uint8Array {
    const vals = this.active.map((c) => {
      const v = c.id === 0x00 ? this.script.paw(tMs) : c.id === 0x01 ? 30 * Math.sin(tMs / 600) : this.script.at(tMs).etco2 * Math.max(0, Math.sin(tMs / 1400));
      return Math.max(0, Math.min(4095, Math.round(((v - c.min) * 4095) / (c.max - c.min))));
    });
    this.stats.rtFrames++;
    return encodeRealtime((1 << this.active.length) - 1, vals);
  }

  private respond(cmd: number, data: ArrayLike<number> = []): void {
    this.stats.responses++;
    let m = encodeMessage(SOH, cmd, data);
    const every = this.opts.corruptEvery ?? 0;
    this.lastResponse = m;
    if (every && ++this.responses % every === 0) {
      m = m.slice();
      m[m.length - 2] = m[m.length - 2] === 0x30 ? 0x31 : 0x30; // wrong checksum digit
      this.stats.corrupted++;
    }
    const noise = this.script.noise();
    if (noise) this.send(noise.map((b) => b & 0x7f).filter((b) => b !== ESC && b !== SOH && b !== 0x0d && b !== NAK));
    if (this.active.length && (this.opts.interleave ?? true) && m.length > 4) {
      // Real-time bytes arrive in the middle of the ASCII response, as on the wire.
      const mid = m.length >> 1;
      this.send(m.subarray(0, mid));
      this.send(this.rtFrame(this.nowMs() - this.startMs));
      this.send(m.subarray(mid));
    } else this.send(m);
  }

  private onMessage(m: { start: number; cmd: number; data: Uint8Array }): void {
    if (m.start === SOH) {
      this.stats.hostAnswers++;
      return;
    }
    this.stats.commands++;
    const v = this.script.at(this.nowMs() - this.startMs);
    switch (m.cmd) {
      case MB.ICC:
      case MB.NOP:
        this.respond(m.cmd);
        break;
      case MB.STOP:
        this.active = [];
        this.respond(m.cmd);
        break;
      case MB.DEVICE_ID:
        this.respond(m.cmd, asciiBytes("'0161'Primus-SIM"));
        break;
      case MB.MEASURED_CP1:
        this.respond(
          m.cmd,
          formatMeasured([
            { code: 0xe6, value: v.etco2 },
            { code: 0xeb, value: v.spo2Artifact ? undefined : v.spo2 },
            { code: 0xe1, value: v.pulse },
            { code: 0xf0, value: v.fio2 },
            { code: 0x78, value: v.peep, decimals: 1 },
            { code: 0xd6, value: v.rr },
            { code: 0xaa, value: 42 }, // a code the host has no mapping for: kept raw
          ]),
        );
        break;
      case MB.ALARMS_CP1:
        this.respond(m.cmd, v.hrAlarm ? asciiBytes('312PULSE HIGH  ') : []);
        break;
      case MB.RT_CONFIG:
        this.respond(m.cmd, formatRealtimeConfig(SIM_CURVES));
        break;
      case MB.RT_CONFIGURE: {
        let ids: number[] = [];
        try {
          ids = parseCurveIds(m.data);
        } catch {
          ids = [];
        }
        this.active = ids.map((id) => SIM_CURVES.find((c) => c.id === id)).filter((c): c is CurveConfig => !!c).slice(0, 4);
        this.rtNextMs = this.nowMs();
        this.respond(m.cmd, formatCurveIds(this.active.map((c) => c.id)));
        break;
      }
      default:
        this.respond(m.cmd);
    }
  }

  tick(): void {
    const now = this.nowMs();
    if (this.silent || this.script.at(now - this.startMs).silent) return;
    const nopMs = this.opts.deviceNopMs ?? 3000;
    if (nopMs && now - this.lastNopMs >= nopMs) {
      this.lastNopMs = now;
      this.send(encodeMessage(ESC, MB.NOP));
    }
    if (this.active.length) {
      const period = this.active[0]!.periodUs / 1000;
      if (this.rtNextMs < now - 1000) this.rtNextMs = now - 1000;
      const parts: Uint8Array[] = [];
      while (this.rtNextMs <= now) {
        parts.push(this.rtFrame(this.rtNextMs - this.startMs));
        this.rtNextMs += period;
      }
      if (parts.length) {
        const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let o = 0;
        for (const p of parts) {
          all.set(p, o);
          o += p.length;
        }
        this.send(all);
      }
    }
  }
}

export class MedibusSimulator extends PtySimulator<MedibusDeviceCore> {
  constructor(path: string, opts: MedibusSimOptions = {}) {
    super(path, 9600, 16, (write, now) => new MedibusDeviceCore(write, now, opts));
  }
}

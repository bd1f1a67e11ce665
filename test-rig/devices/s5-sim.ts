/**
 * A simulated GE S/5 (CARESCAPE) monitor on the Computer Interface: answers the displayed-values
 * request of its own DRI level only (the host must try levels), sends basic-class displayed
 * values every requested interval with invalid-value states where the script says (NIBP before
 * its first measurement, SpO2 artifact), alarm records, and ECG1 (300 Hz) / pleth (100 Hz) wave
 * records every 250 ms when asked. Optionally sends every Nth frame with the "stuffed bytes"
 * checksum variant, which the host must accept too.
 */
import { encodeS5Frame, S5Framer } from '../../edge/devices/s5/frame.js';
import { ALARM_SUBRECORD_LEN, buildRecord, MAINTYPE, parseHeader, PHDB_SUBRECORD_LEN } from '../../edge/devices/s5/record.js';
import { VitalsScript } from '../../edge/demo/script.js';
import { PtySimulator } from '../../edge/demo/sim-port.js';

export interface S5SimOptions {
  script?: VitalsScript;
  /** The monitor's DRI level (default 0x09). */
  driLevel?: number;
  deviceClockOffsetMs?: number;
  /** Every Nth frame uses the stuffed-sum checksum variant (0 = never). */
  stuffedChecksumEvery?: number;
}

const WAVE_MS = 250;

export class S5MonitorCore {
  private readonly framer = new S5Framer();
  private readonly startMs: number;
  private intervalS = 0;
  private nextPhdbMs = 0;
  private waves: number[] = [];
  private nextWaveMs = 0;
  private frames = 0;
  private rNbr = 0;
  private lastAlarmKey = '';
  silent = false;
  readonly stats = { requests: 0, ignoredLevel: 0, phdb: 0, waves: 0, alarms: 0 };

  constructor(
    private readonly send: (b: Uint8Array) => void,
    private readonly nowMs: () => number,
    private readonly opts: S5SimOptions = {},
    readonly script = opts.script ?? new VitalsScript(),
  ) {
    this.startMs = nowMs();
  }

  get driLevel(): number {
    return this.opts.driLevel ?? 0x09;
  }

  private out(rec: Uint8Array): void {
    const noise = this.script.noise();
    if (noise) this.send(noise);
    this.frames++;
    const every = this.opts.stuffedChecksumEvery ?? 0;
    this.send(encodeS5Frame(rec, every && this.frames % every === 0 ? 'stuffed' : 'unstuffed'));
  }

  private rTime(): number {
    return Math.floor((this.nowMs() + (this.opts.deviceClockOffsetMs ?? 12_000)) / 1000);
  }

  receive(chunk: Uint8Array): void {
    if (this.silent || this.script.at(this.nowMs() - this.startMs).silent) return;
    this.framer.push(chunk, (rec) => {
      let h;
      try {
        h = parseHeader(rec);
      } catch {
        return;
      }
      this.stats.requests++;
      if (h.driLevel !== this.driLevel) {
        this.stats.ignoredLevel++;
        return;
      }
      const body = rec.subarray(40);
      if (h.mainType === MAINTYPE.PHDB && body.length >= 9) {
        this.intervalS = body[1]! | (body[2]! << 8);
        this.nextPhdbMs = this.nowMs();
      } else if (h.mainType === MAINTYPE.WAVE && body.length >= 12) {
        const start = (body[0]! | (body[1]! << 8)) === 0;
        this.waves = start ? Array.from(body.subarray(4, 12)).filter((x) => x !== 0xff) : [];
        this.nextWaveMs = this.nowMs();
      }
    });
  }

  tick(): void {
    const now = this.nowMs();
    const t = now - this.startMs;
    if (this.silent || this.script.at(t).silent) return;
    if (this.intervalS > 0 && now >= this.nextPhdbMs) {
      this.nextPhdbMs = Math.max(this.nextPhdbMs + this.intervalS * 1000, now - 1000);
      this.sendPhdb(t);
      this.sendAlarmIfChanged(t);
    }
    if (this.waves.length && now >= this.nextWaveMs) {
      this.nextWaveMs = Math.max(this.nextWaveMs + WAVE_MS, now - WAVE_MS);
      this.sendWaves(t - WAVE_MS);
    }
  }

  private sendPhdb(t: number): void {
    this.stats.phdb++;
    const v = this.script.at(t);
    const sr = new Uint8Array(PHDB_SUBRECORD_LEN);
    const dv = new DataView(sr.buffer);
    dv.setUint32(0, this.rTime(), true);
    const B = 4; // class block starts after the subrecord's time
    for (const g of [0, 72, 118, 132]) dv.setUint32(B + g, 0x3, true); // exists | active
    dv.setInt16(B + 6, v.hr, true);
    const nibp = v.nibp;
    dv.setInt16(B + 78, nibp ? nibp.sys * 100 : -32767, true);
    dv.setInt16(B + 80, nibp ? nibp.dia * 100 : -32767, true);
    dv.setInt16(B + 82, nibp ? nibp.mean * 100 : -32767, true);
    dv.setInt16(B + 124, v.spo2Artifact ? -32765 : v.spo2 * 100, true);
    dv.setInt16(B + 126, v.pulse, true);
    dv.setInt16(B + 138, Math.round((v.etco2 / 760) * 100 * 100), true);
    dv.setInt16(B + 142, v.rr, true);
    dv.setInt16(B + 144, 7600, true);
    dv.setUint16(4 + 270 + 2, 0x0000, true); // class basic
    this.out(buildRecord({ driLevel: this.driLevel, rTime: this.rTime(), rNbr: this.rNbr++ & 0xff, mainType: MAINTYPE.PHDB, subrecords: [{ offset: 0, type: 1 }] }, sr));
  }

  private sendAlarmIfChanged(t: number): void {
    const v = this.script.at(t);
    const key = v.hrAlarm ? 'hr' : '';
    if (key === this.lastAlarmKey) return;
    this.lastAlarmKey = key;
    this.stats.alarms++;
    const sr = new Uint8Array(ALARM_SUBRECORD_LEN);
    const dv = new DataView(sr.buffer);
    dv.setUint16(4, v.hrAlarm ? 1 : 0, true);
    if (v.hrAlarm) {
      dv.setUint16(10, 1, true);
      dv.setUint16(12, 3, true); // red
      const text = 'HR HIGH 150';
      for (let i = 0; i < text.length; i++) sr[14 + i] = text.charCodeAt(i);
    }
    this.out(buildRecord({ driLevel: this.driLevel, rTime: this.rTime(), mainType: MAINTYPE.ALARM, subrecords: [{ offset: 0, type: 1 }] }, sr));
  }

  private sendWaves(t0: number): void {
    this.stats.waves++;
    const parts: Uint8Array[] = [];
    const subs: { offset: number; type: number }[] = [];
    let off = 0;
    for (const id of this.waves) {
      const rate = id === 1 ? 300 : id === 8 ? 100 : 0;
      if (!rate) continue;
      const n = (rate * WAVE_MS) / 1000;
      const b = new Uint8Array(6 + 2 * n);
      const dv = new DataView(b.buffer);
      dv.setInt16(0, n, true);
      for (let i = 0; i < n; i++) {
        const ms = t0 + (i * 1000) / rate;
        dv.setInt16(6 + 2 * i, id === 1 ? Math.round(this.script.ecg(ms) * 1000) : Math.round(this.script.pleth(ms) * 100), true);
      }
      subs.push({ offset: off, type: id });
      parts.push(b);
      off += b.length;
    }
    if (!subs.length) return;
    const body = new Uint8Array(off);
    let p = 0;
    for (const b of parts) {
      body.set(b, p);
      p += b.length;
    }
    this.out(buildRecord({ driLevel: this.driLevel, rTime: this.rTime(), mainType: MAINTYPE.WAVE, subrecords: subs }, body));
  }
}

export class S5Simulator extends PtySimulator<S5MonitorCore> {
  constructor(path: string, opts: S5SimOptions = {}) {
    super(path, 19200, 20, (write, now) => new S5MonitorCore(write, now, opts));
  }
}

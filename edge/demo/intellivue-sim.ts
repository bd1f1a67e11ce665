/**
 * A simulated Philips IntelliVue monitor speaking Data Export over MIB RS-232 framing: answers
 * association, sends the MDS Create Event Report with absolute and relative time, serves
 * extended polls of numerics (1 s updates as linked results, optionally split over two parts) and
 * of real-time waves (ECG II 500 Hz, pleth 125 Hz, every 256 ms), answers the RTSA priority list
 * Set, drops the association when the host stays silent, and follows a VitalsScript.
 *
 * The protocol core (IntelliVueMonitorCore) is pure: bytes in, bytes out, time from a function;
 * the bench drives it in virtual time to produce captures. IntelliVueSimulator puts it on a pty.
 */
import { encodeFrame, IntelliVueFramer } from '../devices/intellivue/frame.js';
import { encodeFloat } from '../devices/intellivue/float.js';
import { encodeAbsTime } from '../devices/intellivue/abs-time.js';
import { BeWriter } from '../devices/intellivue/be-writer.js';
import { sessionSpdu } from '../devices/intellivue/build.js';
import { CMD, NOM, RO, RORLS, SESSION_ID, SPDU } from '../devices/intellivue/nomenclature.js';
import { createPtyPair, type PtyPair } from './pty.js';
import { VitalsScript } from './script.js';
import { PtySimulator } from './sim-port.js';

export interface IntelliVueSimOptions {
  script?: VitalsScript;
  /** LAN mode: one message per datagram, no serial framing (see IntelliVueUdpSimulator). */
  datagram?: boolean;
  /** Device clock minus real clock, ms (staff set the monitor clock wrong). Default -37 000. */
  deviceClockOffsetMs?: number;
  /** Relative time at start, 125 us ticks (set near 2^32 to exercise the wrap). */
  relTimeStart?: number;
  /** Send no absolute time (some monitors do not). */
  noAbsoluteTime?: boolean;
  /** Numerics update period, ms (default 1000). */
  numericPeriodMs?: number;
  /** Split each numeric update over two linked parts. */
  splitLinked?: boolean;
  /** Set DEMO_DATA in every measurement state. */
  demo?: boolean;
  /** Refuse the first N association requests. */
  refuseFirst?: number;
  /** Drop the association after this long without a host message, ms (default 12 000). */
  hostTimeoutMs?: number;
}

const ECG_PERIOD_TICKS = 16; // 2 ms
const PLETH_PERIOD_TICKS = 64; // 8 ms
const WAVE_UPDATE_MS = 256;
const HANDLE = { HR: 1, SPO2: 2, PULSE: 3, NIBP: 4, ETCO2: 5, RR: 6, PRIVATE: 7, ECG: 20, PLETH: 21 } as const;

export class IntelliVueMonitorCore {
  private readonly framer = new IntelliVueFramer();
  private phase: 'idle' | 'awaiting-result' | 'operating' = 'idle';
  private readonly startMs: number;
  private lastHostMs = 0;
  private lastMdsSentMs = 0;
  private numericPoll: { invokeId: number; pollNumber: number; untilMs: number; seq: number; nextMs: number; parts: number } | undefined;
  private wavePoll: { invokeId: number; pollNumber: number; untilMs: number; seq: number; nextMs: number; parts: number; specSent: boolean } | undefined;
  private invoke = 0x100;
  private refusals: number;
  silent = false;
  readonly stats = { associations: 0, polls: 0, numericUpdates: 0, waveUpdates: 0, sets: 0, drops: 0, framesIn: 0 };

  constructor(
    private readonly send: (bytes: Uint8Array) => void,
    private readonly nowMs: () => number,
    private readonly opts: IntelliVueSimOptions = {},
    readonly script = opts.script ?? new VitalsScript(),
  ) {
    this.startMs = nowMs();
    this.refusals = opts.refuseFirst ?? 0;
  }

  relTime(ms = this.nowMs()): number {
    return ((this.opts.relTimeStart ?? 0) + Math.round((ms - this.startMs) * 8)) >>> 0;
  }

  private deviceMs(ms = this.nowMs()): number | undefined {
    return this.opts.noAbsoluteTime ? undefined : ms + (this.opts.deviceClockOffsetMs ?? -37_000);
  }

  private state(extra = 0): number {
    return (this.opts.demo ? 0x0400 : 0) | extra;
  }

  receive(chunk: Uint8Array): void {
    if (this.silent || this.script.at(this.nowMs() - this.startMs).silent) return;
    if (this.opts.datagram) this.onHost(chunk.slice());
    else this.framer.push(chunk, (d) => this.onHost(d.slice()));
  }

  private out(userData: Uint8Array): void {
    if (this.opts.datagram) { this.send(userData); return; }
    const noise = this.script.noise();
    if (noise) this.send(noise);
    this.send(encodeFrame(userData));
  }

  private onHost(d: Uint8Array): void {
    this.stats.framesIn++;
    this.lastHostMs = this.nowMs();
    if (d[0] === SPDU.AARQ) {
      if (this.refusals > 0) {
        this.refusals--;
        this.out(sessionSpdu(SPDU.REFUSE, new Uint8Array([0, 0])));
        return;
      }
      this.stats.associations++;
      this.numericPoll = undefined;
      this.wavePoll = undefined;
      this.out(sessionSpdu(SPDU.AARE, new BeWriter().u32(0x80000000).u32(0x40000000).u32(0).u32(0x00800000).u32(0x20000000).u16(0).u16(0).u16(0).u16(0).finish()));
      this.phase = 'awaiting-result';
      this.sendMdsCreate();
      return;
    }
    if (d[0] === SPDU.RELEASE_REQ) {
      this.out(sessionSpdu(SPDU.RELEASE_RES, new Uint8Array(0)));
      this.phase = 'idle';
      return;
    }
    if (d.length < 8 || ((d[0]! << 8) | d[1]!) !== SESSION_ID) return;
    const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const roType = dv.getUint16(4);
    if (roType === RO.RORS && d.length >= 12 && dv.getUint16(10) === CMD.CONFIRMED_EVENT_REPORT) {
      if (this.phase === 'awaiting-result') this.phase = 'operating';
      return;
    }
    if (roType !== RO.ROIV || d.length < 14) return;
    const invokeId = dv.getUint16(8);
    const cmd = dv.getUint16(10);
    if (this.phase !== 'operating') return;
    if (cmd === CMD.CONFIRMED_ACTION && d.length >= 34 && dv.getUint16(24) === NOM.ACT_POLL_MDIB_DATA_EXT) {
      const pollNumber = dv.getUint16(28);
      const objClass = dv.getUint16(32);
      let periodTicks = 0;
      if (d.length >= 46 && dv.getUint16(40) === NOM.ATTR_TIME_PD_POLL) periodTicks = dv.getUint32(44);
      const now = this.nowMs();
      const untilMs = now + periodTicks / 8;
      this.stats.polls++;
      if (objClass === NOM.MOC_VMO_METRIC_NU) this.numericPoll = { invokeId, pollNumber, untilMs, seq: 0, nextMs: now, parts: 0 };
      else if (objClass === NOM.MOC_VMO_METRIC_SA_RT) this.wavePoll = { invokeId, pollNumber, untilMs, seq: 0, nextMs: now, parts: 0, specSent: false };
      return;
    }
    if (cmd === CMD.CONFIRMED_SET) {
      this.stats.sets++;
      const w = new BeWriter();
      w.u16(SESSION_ID).u16(2).u16(RO.RORS);
      const roLen = w.lengthMark();
      w.u16(invokeId).u16(CMD.CONFIRMED_SET);
      const len = w.lengthMark();
      w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0).u16(0).u16(0);
      len();
      roLen();
      this.out(w.finish());
    }
  }

  private sendMdsCreate(): void {
    this.lastMdsSentMs = this.nowMs();
    const w = new BeWriter();
    w.u16(SESSION_ID).u16(2).u16(RO.ROIV);
    const roLen = w.lengthMark();
    w.u16(this.invoke++ & 0xffff).u16(CMD.CONFIRMED_EVENT_REPORT);
    const ivLen = w.lengthMark();
    w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0);
    w.u32(this.relTime());
    w.u16(NOM.NOTI_MDS_CREAT);
    const infoLen = w.lengthMark();
    w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0);
    w.u16(4); // attributes
    const alLen = w.lengthMark();
    w.u16(NOM.ATTR_TIME_ABS).u16(8);
    encodeAbsTime(w, this.deviceMs());
    w.u16(NOM.ATTR_TIME_REL).u16(4).u32(this.relTime());
    const model = (s: string) => {
      const b = Array.from(s, (c) => c.charCodeAt(0));
      if (b.length % 2) b.push(0);
      w.u16(b.length).bytes(b);
    };
    w.u16(NOM.ATTR_ID_MODEL);
    const mLen = w.lengthMark();
    model('Philips');
    model('MX800-SIM');
    mLen();
    w.u16(NOM.ATTR_SYS_ID).u16(8).u16(6).bytes([0x00, 0x09, 0xfb, 0x12, 0x34, 0x56]);
    alLen();
    infoLen();
    ivLen();
    roLen();
    this.out(w.finish());
  }

  /** Call every few tens of ms. */
  tick(): void {
    const now = this.nowMs();
    const t = now - this.startMs;
    if (this.silent || this.script.at(t).silent) return;
    if (this.phase === 'awaiting-result' && now - this.lastMdsSentMs > 3000) this.sendMdsCreate();
    if (this.phase !== 'operating') return;
    if (now - this.lastHostMs > (this.opts.hostTimeoutMs ?? 12_000)) {
      // The host stopped keeping the association alive: the monitor drops it.
      this.stats.drops++;
      this.phase = 'idle';
      return;
    }
    const np = this.numericPoll;
    if (np && now >= np.nextMs) {
      np.nextMs += this.opts.numericPeriodMs ?? 1000;
      if (np.nextMs < now) np.nextMs = now + (this.opts.numericPeriodMs ?? 1000);
      const last = now >= np.untilMs;
      this.sendNumerics(np, last);
      if (last) this.numericPoll = undefined;
    }
    const wp = this.wavePoll;
    if (wp && now >= wp.nextMs) {
      wp.nextMs += WAVE_UPDATE_MS;
      if (wp.nextMs < now) wp.nextMs = now + WAVE_UPDATE_MS;
      const last = now >= wp.untilMs;
      this.sendWaves(wp, now, last);
      if (last) this.wavePoll = undefined;
    }
  }

  private pollReply(p: { invokeId: number; pollNumber: number; seq: number; parts: number }, objClass: number, last: boolean, observations: (w: BeWriter) => number): Uint8Array {
    const w = new BeWriter();
    w.u16(SESSION_ID).u16(2).u16(RO.ROLRS);
    const roLen = w.lengthMark();
    p.parts++;
    w.u8(p.parts === 1 ? RORLS.FIRST : last ? RORLS.LAST : RORLS.NOT_FIRST_NOT_LAST).u8(p.parts & 0xff);
    w.u16(p.invokeId).u16(CMD.CONFIRMED_ACTION);
    const rsLen = w.lengthMark();
    w.u16(NOM.MOC_VMS_MDS).u16(0).u16(0);
    w.u16(NOM.ACT_POLL_MDIB_DATA_EXT);
    const aLen = w.lengthMark();
    w.u16(p.pollNumber).u16(p.seq++ & 0xffff).u32(this.relTime());
    encodeAbsTime(w, this.deviceMs());
    w.u16(NOM.PART_OBJ).u16(objClass).u16(0);
    w.u16(1); // one context
    const listLen = w.lengthMark();
    w.u16(0); // context id
    const countAt = w.len;
    w.u16(0);
    const obsLen = w.lengthMark();
    const count = observations(w);
    obsLen();
    listLen();
    aLen();
    rsLen();
    roLen();
    const out = w.finish();
    out[countAt] = count >> 8;
    out[countAt + 1] = count & 0xff;
    return out;
  }

  private sendNumerics(p: NonNullable<IntelliVueMonitorCore['numericPoll']>, last: boolean): void {
    this.stats.numericUpdates++;
    const v = this.script.at(this.nowMs() - this.startMs);
    const nu = (w: BeWriter, handle: number, physio: number, unit: number, value: number, decimals: number, state: number) => {
      w.u16(handle).u16(1);
      const l = w.lengthMark();
      w.u16(NOM.ATTR_NU_VAL_OBS).u16(10).u16(physio).u16(this.state(state)).u16(unit).u32(encodeFloat(value, decimals));
      l();
    };
    const groupA = (w: BeWriter) => {
      nu(w, HANDLE.HR, 0x4182, 0x0aa0, v.hr, 0, v.hrAlarm ? 0x0002 : 0);
      nu(w, HANDLE.SPO2, 0x4bb8, 0x0220, v.spo2, 1, v.spo2Artifact ? 0x4000 : 0);
      nu(w, HANDLE.PULSE, 0x4822, 0x0aa0, v.pulse, 0, 0);
      return 3;
    };
    const groupB = (w: BeWriter) => {
      let n = 0;
      if (v.nibp) {
        w.u16(HANDLE.NIBP).u16(1);
        const l = w.lengthMark();
        w.u16(NOM.ATTR_NU_CMPD_VAL_OBS).u16(4 + 30).u16(3).u16(30);
        for (const [code, val] of [[0x4a05, v.nibp.sys], [0x4a06, v.nibp.dia], [0x4a07, v.nibp.mean]] as const) {
          w.u16(code).u16(this.state()).u16(0x0f20).u32(encodeFloat(val, 0));
        }
        l();
        n++;
      }
      nu(w, HANDLE.ETCO2, 0x50b0, 0x0f20, v.etco2, 0, 0);
      nu(w, HANDLE.RR, 0x500a, 0x0ae0, v.rr, 0, 0);
      // A private code the host has no mapping for: it must arrive raw, not dropped.
      nu(w, HANDLE.PRIVATE, 0xf0e5, 0x0200, 1.5, 1, 0);
      return n + 3;
    };
    if (this.opts.splitLinked) {
      this.out(this.pollReply(p, NOM.MOC_VMO_METRIC_NU, false, groupA));
      this.out(this.pollReply(p, NOM.MOC_VMO_METRIC_NU, last, groupB));
    } else {
      this.out(this.pollReply(p, NOM.MOC_VMO_METRIC_NU, last, (w) => groupA(w) + groupB(w)));
    }
  }

  private sendWaves(p: NonNullable<IntelliVueMonitorCore['wavePoll']>, now: number, last: boolean): void {
    this.stats.waveUpdates++;
    const t0 = now - this.startMs - WAVE_UPDATE_MS;
    const withSpec = !p.specSent;
    p.specSent = true;
    const wave = (w: BeWriter, handle: number, label: number, physio: number, periodTicks: number, n: number, lo: number, hi: number, loDec: number, f: (ms: number) => number) => {
      w.u16(handle).u16(withSpec ? 5 : 1);
      const l = w.lengthMark();
      if (withSpec) {
        w.u16(NOM.ATTR_ID_LABEL).u16(4).u32(label);
        w.u16(NOM.ATTR_SA_SPECN).u16(6).u16(n).u8(16).u8(12).u16(0);
        w.u16(NOM.ATTR_SCALE_SPECN_I16).u16(12).u32(encodeFloat(lo, loDec)).u32(encodeFloat(hi, loDec)).u16(0).u16(4095);
        w.u16(NOM.ATTR_TIME_PD_SAMP).u16(4).u32(periodTicks);
      }
      w.u16(NOM.ATTR_SA_VAL_OBS).u16(6 + 2 * n).u16(physio).u16(this.state()).u16(2 * n);
      for (let i = 0; i < n; i++) {
        const ms = t0 + (i * periodTicks) / 8;
        const s = Math.max(0, Math.min(4095, Math.round(((f(ms) - lo) * 4095) / (hi - lo))));
        w.u16(s | 0xf000); // upper bits set on purpose: the host must mask to the significant bits
      }
      l();
    };
    this.out(
      this.pollReply(p, NOM.MOC_VMO_METRIC_SA_RT, last, (w) => {
        wave(w, HANDLE.ECG, 0x00020102, 0x0102, ECG_PERIOD_TICKS, 128, -40.96, 40.94, 2, (ms) => this.script.ecg(ms));
        wave(w, HANDLE.PLETH, 0x00024bb4, 0x4bb4, PLETH_PERIOD_TICKS, 32, 0, 100, 0, (ms) => this.script.pleth(ms));
        return 2;
      }),
    );
  }
}

/** The core on a pty, ticking every 16 ms of real time. */
export class IntelliVueSimulator extends PtySimulator<IntelliVueMonitorCore> {
  constructor(path: string, opts: IntelliVueSimOptions = {}) {
    super(path, 115200, 16, (write, now) => new IntelliVueMonitorCore(write, now, opts));
  }
}

/**
 * The demo monitor of `make run`: a pty pair with a simulated IntelliVue on its device end.
 * Give `path` to the box configuration (protocol intellivue); call close() at shutdown.
 */
export async function startDemoIntelliVue(opts: IntelliVueSimOptions = {}): Promise<{ path: string; simulator: IntelliVueSimulator; pty: PtyPair; close(): Promise<void> }> {
  const pty = await createPtyPair();
  const simulator = new IntelliVueSimulator(pty.devicePath, {
    demo: true,
    script: new VitalsScript({ seed: 7, nibpEveryMs: 60_000, alarms: [{ fromMs: 30_000, toMs: 40_000 }], artifacts: [{ fromMs: 50_000, toMs: 55_000 }] }),
    ...opts,
  });
  await simulator.start();
  return {
    path: pty.boxPath,
    simulator,
    pty,
    close: async () => {
      await simulator.close();
      await pty.close();
    },
  };
}

/**
 * A monitor on the LAN: the IntelliVue core answering on a UDP port (127.0.0.1 in tests; a
 * real monitor listens on 24105). It talks to whoever sent it the last datagram.
 */
export class IntelliVueUdpSimulator {
  readonly core: IntelliVueMonitorCore;
  private socket: import('node:dgram').Socket | undefined;
  private peer: { address: string; port: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  port = 0;

  constructor(opts: IntelliVueSimOptions = {}) {
    this.core = new IntelliVueMonitorCore((b) => this.reply(b), () => Date.now(), { ...opts, datagram: true });
  }

  async start(port = 0): Promise<void> {
    const { createSocket } = await import('node:dgram');
    const s = createSocket('udp4');
    s.on('message', (msg, rinfo) => { this.peer = { address: rinfo.address, port: rinfo.port }; this.core.receive(new Uint8Array(msg)); });
    await new Promise<void>((r) => s.bind(port, '127.0.0.1', () => r()));
    this.port = s.address().port;
    this.socket = s;
    this.timer = setInterval(() => this.core.tick(), 16);
  }

  /** The box-side path for this monitor. */
  get path(): string {
    return `udp://127.0.0.1:${this.port}`;
  }

  private reply(b: Uint8Array): void {
    if (this.peer) this.socket?.send(b, this.peer.port, this.peer.address);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

/**
 * Scripted vitals for the simulators: a patient whose numbers move plausibly, with NIBP cycles,
 * alarms, artifacts, a silent device, noise bytes. Pure: ask it for the state at a time (ms since
 * the script started); the simulator decides how its protocol shows that state.
 */
import { mulberry32 } from './prng.js';

export interface ScriptWindow {
  fromMs: number;
  toMs: number;
}

export interface VitalsScriptOptions {
  seed?: number;
  /** NIBP measurement every this many ms (first result at nibpFirstMs). */
  nibpEveryMs?: number;
  nibpFirstMs?: number;
  /** HR high alarm windows (HR rises to 150 inside). */
  alarms?: ScriptWindow[];
  /** SpO2 artifact windows (value flagged questionable / invalid). */
  artifacts?: ScriptWindow[];
  /** Device stops talking (answers nothing, sends nothing). */
  silent?: ScriptWindow[];
  /** Probability per sent message of a few noise bytes before it. */
  noiseProbability?: number;
}

export interface VitalsState {
  hr: number;
  spo2: number;
  pulse: number;
  etco2: number;
  rr: number;
  fio2: number;
  peep: number;
  nibp?: { sys: number; dia: number; mean: number; atMs: number };
  hrAlarm: boolean;
  spo2Artifact: boolean;
  silent: boolean;
}

const inside = (w: ScriptWindow[] | undefined, t: number) => !!w?.some((x) => t >= x.fromMs && t < x.toMs);

export class VitalsScript {
  readonly rnd: () => number;
  constructor(readonly opts: VitalsScriptOptions = {}) {
    this.rnd = mulberry32(opts.seed ?? 1);
  }

  at(tMs: number): VitalsState {
    const s = tMs / 1000;
    const hrAlarm = inside(this.opts.alarms, tMs);
    const hr = hrAlarm ? 150 : Math.round(72 + 4 * Math.sin(s / 20));
    const every = this.opts.nibpEveryMs ?? 180_000;
    const first = this.opts.nibpFirstMs ?? 2000;
    let nibp: VitalsState['nibp'];
    if (tMs >= first) {
      const n = Math.floor((tMs - first) / every);
      const sys = 118 + (n % 5) * 2;
      const dia = 76 + (n % 3);
      nibp = { sys, dia, mean: Math.round((sys + 2 * dia) / 3), atMs: first + n * every };
    }
    return {
      hr,
      spo2: 97 + Math.round(Math.sin(s / 30)),
      pulse: hr,
      etco2: 38 + Math.round(2 * Math.sin(s / 15)),
      rr: 14,
      fio2: 50,
      peep: 5,
      ...(nibp ? { nibp } : {}),
      hrAlarm,
      spo2Artifact: inside(this.opts.artifacts, tMs),
      silent: inside(this.opts.silent, tMs),
    };
  }

  /** ECG-like wave value (mV) at time t (ms), a crude PQRST at the scripted HR. */
  ecg(tMs: number): number {
    const hr = this.at(tMs).hr;
    const beat = 60000 / hr;
    const ph = (tMs % beat) / beat;
    if (ph < 0.05) return 0.1 * Math.sin((ph / 0.05) * Math.PI);
    if (ph > 0.12 && ph < 0.14) return -0.1;
    if (ph >= 0.14 && ph < 0.17) return 1.2;
    if (ph >= 0.17 && ph < 0.19) return -0.25;
    if (ph > 0.35 && ph < 0.45) return 0.3 * Math.sin(((ph - 0.35) / 0.1) * Math.PI);
    return 0;
  }

  /** Pleth-like wave (0..100) at time t (ms). */
  pleth(tMs: number): number {
    const beat = 60000 / this.at(tMs).hr;
    const ph = (tMs % beat) / beat;
    return 50 + 40 * Math.sin(ph * 2 * Math.PI);
  }

  /** Airway pressure (cmH2O) at time t (ms), 14 breaths/min. */
  paw(tMs: number): number {
    const ph = (tMs % (60000 / 14)) / (60000 / 14);
    return ph < 0.33 ? 5 + 15 * Math.sin((ph / 0.33) * Math.PI) : 5;
  }

  noise(): Uint8Array | undefined {
    const p = this.opts.noiseProbability ?? 0;
    if (p <= 0 || this.rnd() >= p) return undefined;
    const n = 1 + Math.floor(this.rnd() * 6);
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.rnd() * 256);
    return b;
  }
}

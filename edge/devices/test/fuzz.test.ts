// Fuzz per protocol: >= 100 000 random and mutated inputs through framer + driver. No crash, no
// hang (each protocol has a deadline), buffers bounded. Seeded; a crashing input is written to
// test/fixtures/ (commit it) and every fixture there is replayed first.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DriverHost, ProtocolDriver } from '../driver.js';
import { IntelliVueDriver } from '../intellivue/driver.js';
import { encodeFrame, MAX_FRAME } from '../intellivue/frame.js';
import { S5Driver } from '../s5/driver.js';
import { encodeS5Frame, MAX_RECORD } from '../s5/frame.js';
import { MedibusDriver } from '../medibus/driver.js';
import { encodeMessage, MAX_MESSAGE } from '../medibus/frame.js';
import { IntelliVueMonitorCore } from '../../demo/intellivue-sim.js';
import { S5MonitorCore } from '../../../test-rig/devices/s5-sim.js';
import { MedibusDeviceCore } from '../../../test-rig/devices/medibus-sim.js';
import { VirtualLink } from '../../../test-rig/devices/loopback.js';
import { mulberry32 } from '../../demo/prng.js';
import type { Protocol } from '../sample.js';

const INPUTS = Number(process.env['ORBOX_FUZZ_INPUTS'] ?? 100_000);

function fixturesDir(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(d, 'edge', 'devices', 'test', 'fixtures');
    if (existsSync(join(d, 'edge', 'devices'))) return p;
    d = dirname(d);
  }
  return join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
}

interface Target {
  protocol: Protocol;
  make: (host: DriverHost) => ProtocolDriver;
  /** Valid frames captured from the simulator (the mutation corpus). */
  corpus: () => Uint8Array[];
  /** Re-frame a mutated payload with a valid checksum so the parsers are reached. */
  reframe: (payload: Uint8Array) => Uint8Array;
  /** Strip framing to get a payload to mutate (best effort). */
  payloadOf: (frame: Uint8Array) => Uint8Array;
  bound: number;
}

function capture(make: (l: VirtualLink) => void, ms: number): Uint8Array[] {
  const l = new VirtualLink();
  const out: Uint8Array[] = [];
  make(l);
  l.mangle = (c) => {
    out.push(c);
    return [c];
  };
  l.driver.start();
  l.run(ms);
  return out;
}

const targets: Target[] = [
  {
    protocol: 'intellivue',
    make: (h) => new IntelliVueDriver(h, { waves: ['ECG_II'], passive: true }),
    corpus: () => capture((l) => l.attach(new IntelliVueDriver(l.host, { waves: ['ECG_II', 'PLETH'] }), new IntelliVueMonitorCore(l.deviceSend, l.nowMs, { splitLinked: true })), 3000),
    reframe: (p) => encodeFrame(p),
    payloadOf: (f) => {
      // unescape, strip C0 | 4-byte header ... FCS(2) | C1
      const u: number[] = [];
      for (let i = 1; i < f.length - 1; i++) u.push(f[i] === 0x7d && i + 1 < f.length - 1 ? f[++i]! ^ 0x20 : f[i]!);
      return Uint8Array.from(u.slice(4, -2));
    },
    bound: MAX_FRAME,
  },
  {
    protocol: 's5',
    make: (h) => new S5Driver(h, { intervalS: 1 }),
    corpus: () => capture((l) => l.attach(new S5Driver(l.host, { intervalS: 1, waves: ['ECG1', 'PLETH'] }), new S5MonitorCore(l.deviceSend, l.nowMs, {})), 3000),
    reframe: (p) => encodeS5Frame(p),
    payloadOf: (f) => {
      const u: number[] = [];
      for (let i = 1; i < f.length - 1; i++) u.push(f[i] === 0x7d ? f[++i]! ^ 0x20 : f[i]!);
      return Uint8Array.from(u.slice(0, -1));
    },
    bound: MAX_RECORD + 1,
  },
  {
    protocol: 'medibus',
    make: (h) => new MedibusDriver(h, { curves: ['PAW'] }),
    corpus: () => capture((l) => l.attach(new MedibusDriver(l.host, { curves: ['PAW', 'FLOW'] }), new MedibusDeviceCore(l.deviceSend, l.nowMs, { deviceNopMs: 500 })), 3000),
    reframe: (p) => (p.length >= 2 ? encodeMessage(p[0]! & 1 ? 0x01 : 0x1b, p[1]! & 0x7f, p.subarray(2)) : p),
    payloadOf: (f) => (f.length > 4 && (f[0] === 0x01 || f[0] === 0x1b) ? f.subarray(0, f.length - 3) : f),
    bound: MAX_MESSAGE + 8,
  },
];

function mutate(rnd: () => number, corpus: Uint8Array[], tg: Target): Uint8Array {
  const pick = () => corpus[Math.floor(rnd() * corpus.length)]!;
  const r = rnd();
  if (r < 0.15) {
    // pure random bytes
    const b = new Uint8Array(1 + Math.floor(rnd() * 300));
    for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
    return b;
  }
  const base = r < 0.6 ? tg.payloadOf(pick()).slice() : pick().slice();
  let b: Uint8Array = base;
  const n = 1 + Math.floor(rnd() * 4);
  for (let k = 0; k < n; k++) {
    const m = rnd();
    if (b.length === 0) break;
    const at = Math.floor(rnd() * b.length);
    if (m < 0.35) b[at] = b[at]! ^ (1 << Math.floor(rnd() * 8));
    else if (m < 0.55) b[at] = Math.floor(rnd() * 256);
    else if (m < 0.7) b = b.subarray(0, at);
    else if (m < 0.85) {
      const ins = new Uint8Array(b.length + 1 + Math.floor(rnd() * 8));
      ins.set(b.subarray(0, at));
      for (let i = at; i < at + ins.length - b.length; i++) ins[i] = Math.floor(rnd() * 256);
      ins.set(b.subarray(at), at + ins.length - b.length);
      b = ins;
    } else {
      // interesting values: lengths and counts set to extremes
      const v = [0x00, 0xff, 0x7f, 0x80, 0xfe][Math.floor(rnd() * 5)]!;
      b[at] = v;
      if (at + 1 < b.length) b[at + 1] = v;
    }
  }
  // most mutated payloads get a valid checksum again, so they reach the structure parsers
  return r < 0.6 ? tg.reframe(b) : b;
}

for (const tg of targets) {
  t.test(`fuzz ${tg.protocol}: ${INPUTS} random and mutated inputs, no crash, no hang, bounded buffers`, async (t) => {
    const rnd = mulberry32(0x5eed + tg.protocol.length);
    const corpus = tg.corpus();
    t.ok(corpus.length > 10, `corpus of ${corpus.length} captured chunks`);
    let now = 1_700_000_000_000_000_000n;
    let emitted = 0;
    const host: DriverHost = {
      now: () => ({ wallNs: now, monoNs: now }),
      write: () => {},
      emit: () => void emitted++,
      setState: () => {},
      setDeviceId: () => {},
    };
    const dir = fixturesDir();
    const feed = (d: ProtocolDriver, input: Uint8Array) => {
      // random read splits, like a serial port would deliver
      let p = 0;
      while (p < input.length) {
        const n = 1 + Math.floor(rnd() * Math.max(1, input.length - p));
        d.receive(input.subarray(p, p + n));
        p += n;
      }
    };
    // committed crashers first
    if (existsSync(dir)) {
      for (const f of readdirSync(dir).filter((n) => n.startsWith(`${tg.protocol}-`))) {
        t.doesNotThrow(() => feed(tg.make(host), new Uint8Array(readFileSync(join(dir, f)))), `fixture ${f}`);
      }
    }
    let d = tg.make(host);
    const deadline = Date.now() + 90_000;
    let crashes = 0;
    for (let i = 0; i < INPUTS; i++) {
      const input = mutate(rnd, corpus, tg);
      now += 1_000_000n;
      try {
        feed(d, input);
        if (i % 97 === 0) d.tick();
      } catch (err) {
        crashes++;
        mkdirSync(dir, { recursive: true });
        const name = `${tg.protocol}-crash-${i}.bin`;
        writeFileSync(join(dir, name), input);
        t.fail(`input ${i} threw ${(err as Error).stack}; saved as fixtures/${name}`);
        d = tg.make(host);
        if (crashes > 5) break;
      }
      const fr = (d as unknown as { framer: { buffered(): number } }).framer;
      if (fr.buffered() > tg.bound) {
        t.fail(`buffer ${fr.buffered()} above bound ${tg.bound} at input ${i}`);
        break;
      }
      if (i % 5000 === 0) {
        if (Date.now() > deadline) {
          t.fail(`hang: only ${i} inputs before the deadline`);
          break;
        }
        d = tg.make(host); // fresh session state now and then, so early states are fuzzed too
      }
    }
    t.equal(crashes, 0, 'no crash');
    t.ok(emitted > 0, `mutated inputs still decode to samples (${emitted})`);
  });
}

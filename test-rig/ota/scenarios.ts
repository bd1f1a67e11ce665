/**
 * The OTA lab's scenarios (issue 22 "Must show"), each on a fresh box (RAUC lab + agent process)
 * over the shared broker, bundle server and console. Each returns a one-line summary of what it
 * observed or throws naming what went wrong. `make ota-lab` runs them all (ota-lab.ts); the
 * `make test` subset is test/ota-lab.test.ts.
 *
 * Every scenario ends by checking the invariant the pain points ask for: the box is on a slot
 * that boots and is marked good (attempts refilled), and the job's final state reached the console.
 */
import { type BuiltBundle } from '../../ota/bundle.js';
import { LabBox, type LabBoxOptions, type Shared, makeBundle, waitFor } from './harness.js';

export interface Scenario {
  name: string;
  quick?: boolean;
  run(s: Shared): Promise<string>;
}

let seq = 0;
const jobId = (tag: string) => `${tag}-${process.pid}-${++seq}`;

function jobBody(s: Shared, b: BuiltBundle, id: string, extra: { force?: boolean; url?: string; timeoutS?: number } = {}) {
  return { kind: 'otaJob' as const, jobId: id, url: extra.url ?? s.server.url(b.path), sha256: b.sha256, sizeBytes: b.bytes, version: b.version, force: extra.force ?? false, timeoutS: extra.timeoutS ?? 0 };
}

async function withBox<T>(s: Shared, opts: LabBoxOptions, fn: (box: LabBox) => Promise<T>): Promise<T> {
  const box = new LabBox(s, opts);
  try {
    await box.start(); // inside: a box that fails to start still has its RAUC and bus stopped
    return await fn(box);
  } catch (err) {
    const tail = box.lines.slice(-15).join('\n    ');
    throw new Error(`${(err as Error).message}\n    box said:\n    ${tail}`);
  } finally {
    await box.stop();
  }
}

/** The invariant: booted slot good (attempts refilled) and running `version`. */
async function assertGoodOn(box: LabBox, version: string): Promise<void> {
  await box.waitBootGood();
  const v = box.lab.slotVersion(box.lab.booted) ?? '1.0.0';
  if (v !== version) throw new Error(`booted ${box.lab.booted} runs ${v}, expected ${version}`);
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'install + reboot + mark good',
    quick: true,
    async run(s) {
      const b = makeBundle(s, 'good-1.1.0', '1.1.0');
      return withBox(s, {}, async (box) => {
        const id = jobId('good');
        await box.send(jobBody(s, b, id));
        const f = await box.waitFinal(id);
        if (f.status !== 'SUCCEEDED') throw new Error(`job ended ${f.status}: ${f.message}`);
        await assertGoodOn(box, '1.1.0');
        const steps = [...new Set(box.jobs(id).map((e) => e.step))].join('>');
        const pct = box.jobs(id).filter((e) => e.step === 'installing').length;
        return `SUCCEEDED on ${box.lab.booted} (1.1.0, marked good) after ${box.reboots} reboot; steps ${steps}; ${pct} install progress reports`;
      });
    },
  },
  {
    name: 'new slot unhealthy -> marked bad, rolled back, reported',
    quick: true,
    async run(s) {
      const b = makeBundle(s, 'sick-1.2.0', '1.2.0');
      return withBox(s, { healthWindowMs: 1000, healthTimeoutMs: 3000 }, async (box) => {
        const id = jobId('sick');
        // The new slot comes up unhealthy; after the rollback the old one is healthy again.
        box.opts.onJobLine = (l) => {
          if (/ IN_PROGRESS verifying /.test(l)) box.setHealth('unhealthy');
          if (/ IN_PROGRESS rolling-back /.test(l)) box.setHealth('healthy');
        };
        await box.send(jobBody(s, b, id));
        const f = await box.waitFinal(id);
        if (f.status !== 'FAILED' || !/rolled back/.test(f.message)) throw new Error(`job ended ${f.status}: ${f.message}`);
        await assertGoodOn(box, '1.0.0');
        return `FAILED "${f.message}"; back on ${box.lab.booted} after ${box.reboots} reboots`;
      });
    },
  },
  ...([
    ['tampered bundle', 'tampered', /signature|verif/i],
    ['wrong compatible', 'compatible', /compatible/i],
    ['signed by the release CA, box trusts dev', 'wrongca', /signature|verif|certificate/i],
  ] as const).map(([name, kind, re]): Scenario => ({
    name: `${name} -> REJECTED with RAUC's reason`,
    quick: kind === 'tampered',
    async run(s) {
      let b: BuiltBundle;
      if (kind === 'compatible') b = makeBundle(s, `compat-${seq}`, '1.3.0', { compatible: 'orbox-rk3588' });
      else if (kind === 'wrongca') b = makeBundle(s, `wrongca-${seq}`, '1.3.0', { ca: s.release });
      else {
        b = makeBundle(s, `tampered-${seq}`, '1.3.0');
        // Flip a byte inside the squashfs payload, then give the job the tampered file's hash:
        // the download checks out, only the signature can catch it.
        const { readFileSync, writeFileSync } = await import('node:fs');
        const { createHash } = await import('node:crypto');
        const buf = readFileSync(b.path);
        buf[2000] ^= 0xff;
        writeFileSync(b.path, buf);
        b = { ...b, sha256: createHash('sha256').update(buf).digest('hex') };
      }
      return withBox(s, {}, async (box) => {
        await box.waitBootGood();
        const id = jobId(kind);
        await box.send(jobBody(s, b, id));
        const f = await box.waitFinal(id);
        if (f.status !== 'REJECTED' || !re.test(f.message)) throw new Error(`job ended ${f.status}: ${f.message}`);
        if (box.reboots !== 0) throw new Error(`box rebooted ${box.reboots} times for a refused bundle`);
        await assertGoodOn(box, '1.0.0');
        return `REJECTED "${f.message}"`;
      });
    },
  })),
  {
    name: 'older version refused (anti-rollback) unless forced',
    async run(s) {
      const newer = makeBundle(s, 'ar-1.5.0', '1.5.0');
      const older = makeBundle(s, 'ar-1.4.0', '1.4.0');
      return withBox(s, {}, async (box) => {
        const a = jobId('ar');
        await box.send(jobBody(s, newer, a));
        if ((await box.waitFinal(a)).status !== 'SUCCEEDED') throw new Error('1.5.0 did not install');
        await assertGoodOn(box, '1.5.0');
        const o = jobId('ar-old');
        await box.send(jobBody(s, older, o));
        const f = await box.waitFinal(o);
        if (f.status !== 'REJECTED' || !/anti-rollback/.test(f.message)) throw new Error(`older job ended ${f.status}: ${f.message}`);
        const forced = jobId('ar-forced');
        await box.send(jobBody(s, older, forced, { force: true }));
        const g = await box.waitFinal(forced);
        if (g.status !== 'SUCCEEDED') throw new Error(`forced older job ended ${g.status}: ${g.message}`);
        await assertGoodOn(box, '1.4.0');
        return `1.4.0 on 1.5.0: REJECTED "${f.message}"; forced: SUCCEEDED`;
      });
    },
  },
  {
    name: 'download cut twice and resumed with Range',
    quick: true,
    async run(s) {
      const b = makeBundle(s, 'cut-1.1.0', '1.1.0', { bytes: 1 << 20 });
      return withBox(s, {}, async (box) => {
        const id = jobId('cut');
        const before = s.server.ranges.length;
        s.server.cutNext(300_000, 2);
        await box.send(jobBody(s, b, id));
        const f = await box.waitFinal(id);
        if (f.status !== 'SUCCEEDED') throw new Error(`job ended ${f.status}: ${f.message}`);
        const ranges = s.server.ranges.slice(before);
        if (!ranges.some((r) => /^bytes=\d+-$/.test(r))) throw new Error(`no Range request: ${ranges.join(',')}`);
        await assertGoodOn(box, '1.1.0');
        return `${b.bytes} bytes in ${ranges.length} requests (${ranges.map((r) => r || 'full').join(', ')}), sha256 ok, SUCCEEDED`;
      });
    },
  },
  {
    name: 'second job while one runs -> queued, then run',
    async run(s) {
      const b1 = makeBundle(s, 'q-1.1.0', '1.1.0', { bytes: 1 << 20 });
      const b2 = makeBundle(s, 'q-1.2.0', '1.2.0');
      return withBox(s, {}, async (box) => {
        const j1 = jobId('q1');
        const j2 = jobId('q2');
        s.server.cutNext(200_000, 1); // keeps the first job busy for a retry
        await box.send(jobBody(s, b1, j1));
        await waitFor(() => box.jobs(j1).some((e) => e.status === 'IN_PROGRESS'), 20_000, 'first job in progress');
        await box.send(jobBody(s, b2, j2));
        await waitFor(() => box.jobs(j2).length > 0, 10_000, 'second job reported');
        const first2 = box.jobs(j2)[0]!;
        if (first2.status !== 'QUEUED') throw new Error(`second job first reported ${first2.status}`);
        const f1 = await box.waitFinal(j1);
        const f2 = await box.waitFinal(j2, 90_000);
        if (f1.status !== 'SUCCEEDED' || f2.status !== 'SUCCEEDED') throw new Error(`jobs ended ${f1.status} / ${f2.status}: ${f2.message}`);
        await assertGoodOn(box, '1.2.0');
        return `second job QUEUED ("${first2.message}"), then both SUCCEEDED; running 1.2.0 after ${box.reboots} reboots`;
      });
    },
  },
  {
    name: 'cancel reaches a queued job',
    async run(s) {
      const b1 = makeBundle(s, 'c-1.1.0', '1.1.0');
      return withBox(s, {}, async (box) => {
        box.setBusy({ recording: true }); // holds the first job before its install
        const j1 = jobId('c1');
        const j2 = jobId('c2');
        await box.send(jobBody(s, b1, j1));
        await box.send(jobBody(s, b1, j2));
        await waitFor(() => box.jobs(j1).some((e) => /case is recording/.test(e.message)), 20_000, 'install waiting for the recording');
        await box.send({ kind: 'otaCancel', jobId: j2 });
        const f2 = await box.waitFinal(j2);
        if (f2.status !== 'CANCELED') throw new Error(`second job ended ${f2.status}`);
        box.setBusy({});
        const f1 = await box.waitFinal(j1);
        if (f1.status !== 'SUCCEEDED') throw new Error(`first job ended ${f1.status}: ${f1.message}`);
        await assertGoodOn(box, '1.1.0');
        return `install waited while recording; queued job CANCELED; first SUCCEEDED after the case ended`;
      });
    },
  },
  ...['downloading', 'Checking bundle', 'Copying image', 'rebooting', 'verifying'].flatMap((stage): Scenario[] => [false, true].map((rauc): Scenario => ({
    name: `power cut at "${stage}" (${rauc ? 'box power cut: agent and RAUC killed, rebooted' : stage === 'verifying' ? 'box killed after install before mark-good, rebooted' : 'agent killed'})`,
    quick: stage === 'Copying image' && rauc,
    async run(s) {
      const b = makeBundle(s, `cut-${stage.replace(/ /g, '')}-${rauc}`, '1.1.0', { bytes: 1 << 20 });
      let cut = false;
      return withBox(s, {}, async (box) => {
        const id = jobId('pc');
        box.opts.onJobLine = (l) => {
          if (cut || !l.includes(id)) return;
          const hit = stage === 'downloading' ? / IN_PROGRESS downloading [1-9]\d* / .test(l) : stage === 'rebooting' || stage === 'verifying' ? new RegExp(` IN_PROGRESS ${stage} `).test(l) : l.includes(stage);
          if (!hit) return;
          cut = true;
          void box.powerCut({ rauc, reboot: rauc || stage === 'verifying' });
        };
        if (stage === 'downloading') s.server.cutNext(400_000, 0); // no cut; large enough for progress
        await box.send(jobBody(s, b, id));
        const f = await box.waitFinal(id, 90_000);
        if (!cut) throw new Error(`never reached "${stage}"`);
        if (f.status !== 'SUCCEEDED') throw new Error(`job ended ${f.status}: ${f.message}`);
        await assertGoodOn(box, '1.1.0');
        return `cut at "${stage}"; job SUCCEEDED; on ${box.lab.booted} (1.1.0, good) after ${box.lab.boots} boots`;
      });
    },
  }))),
];

async function withBoxes<T>(s: Shared, ids: string[], fn: (boxes: LabBox[]) => Promise<T>): Promise<T> {
  const boxes = ids.map((boxId) => new LabBox(s, { boxId }));
  try {
    await Promise.all(boxes.map((b) => b.start()));
    return await fn(boxes);
  } finally {
    await Promise.all(boxes.map((b) => b.stop()));
  }
}

SCENARIOS.push(
  {
    name: 'phased rollout to a group stops when failures pass the threshold',
    quick: true,
    async run(s) {
      const b = makeBundle(s, 'roll-bad', '1.6.0', { compatible: 'orbox-imx8mp' });
      const { Rollout } = await import('../../edge/ota/index.js');
      return withBoxes(s, ['ota-box-1', 'ota-box-2', 'ota-box-3'], async (boxes) => {
        const bars: string[] = [];
        const r = new Rollout(s.console, {
          boxes: boxes.map((x) => x.boxId), jobPrefix: jobId('roll'), url: s.server.url(b.path), sha256: b.sha256, sizeBytes: b.bytes, version: b.version,
          firstWave: 1, maxFailures: 0, boxTimeoutMs: 60_000, onProgress: (box, p) => bars.push(`${box} ${p.status}`),
        });
        const res = await r.run();
        const o = Object.fromEntries(Object.entries(res.outcomes).map(([k, v]) => [k, v.outcome]));
        if (!res.stopped || o['ota-box-1'] !== 'REJECTED' || o['ota-box-2'] !== 'skipped' || o['ota-box-3'] !== 'skipped') throw new Error(`outcomes ${JSON.stringify(o)} stopped=${res.stopped}`);
        if (boxes.slice(1).some((x) => x.jobs(r.jobId(x.boxId)).length > 0)) throw new Error('a skipped box got the job');
        return `box-1 REJECTED ("${res.outcomes['ota-box-1']!.message.slice(0, 60)}..."), ${res.reason}; box-2, box-3 skipped`;
      });
    },
  },
  {
    name: 'phased rollout: first wave, then the rest; cancel reaches a box that has not started',
    async run(s) {
      const b = makeBundle(s, 'roll-good', '1.1.0');
      const { Rollout, progressBar } = await import('../../edge/ota/index.js');
      return withBoxes(s, ['ota-box-1', 'ota-box-2', 'ota-box-3'], async (boxes) => {
        boxes[2]!.setBusy({ recording: true });
        let firstDoneBeforeSecond = false;
        const r = new Rollout(s.console, {
          boxes: boxes.map((x) => x.boxId), jobPrefix: jobId('roll'), url: s.server.url(b.path), sha256: b.sha256, sizeBytes: b.bytes, version: b.version,
          firstWave: 1, maxFailures: 0, boxTimeoutMs: 60_000,
          onProgress: (box, p) => {
            if (box === 'ota-box-2' && p.status === 'QUEUED') firstDoneBeforeSecond = r !== undefined && boxes[0]!.finalOf(r.jobId('ota-box-1'))?.status === 'SUCCEEDED';
            void progressBar(box, p);
          },
        });
        const run = r.run();
        await waitFor(() => boxes[2]!.jobs(r.jobId('ota-box-3')).some((e) => /case is recording/.test(e.message)), 60_000, 'box-3 holding its install for the recording');
        const asked = await r.cancel();
        const res = await run;
        const o = Object.fromEntries(Object.entries(res.outcomes).map(([k, v]) => [k, v.outcome]));
        if (o['ota-box-1'] !== 'SUCCEEDED' || o['ota-box-3'] !== 'CANCELED') throw new Error(`outcomes ${JSON.stringify(o)}`);
        if (!firstDoneBeforeSecond) throw new Error('the second wave started before the first had finished');
        await assertGoodOn(boxes[0]!, '1.1.0');
        await assertGoodOn(boxes[2]!, '1.0.0');
        return `box-1 SUCCEEDED first; then box-2 ${o['ota-box-2']}; cancel asked ${asked.join(', ')}: box-3 CANCELED before its install`;
      });
    },
  },
);

SCENARIOS.push({
  name: 'orbox fleet ota <group> <bundle file>: progress per box, both updated',
  async run(s) {
    const b = makeBundle(s, 'cli-1.1.0', '1.1.0');
    const { spawn } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { fileURLToPath } = await import('node:url');
    const { consoleEnv } = await import('../fleet/index.js');
    return withBoxes(s, ['ota-box-1', 'ota-box-2'], async (boxes) => {
      const groups = join(s.root, 'groups.json');
      writeFileSync(groups, JSON.stringify({ 'theatre-wing': boxes.map((x) => x.boxId) }));
      const cli = fileURLToPath(new URL('../../../bin/orbox.js', import.meta.url));
      const base = s.server.url('x').replace(/\/x$/, '');
      const p = spawn(process.execPath, [cli, 'fleet', 'ota', 'theatre-wing', b.path, '--base-url', base, '--groups', groups, '--first', '1', '--job', jobId('cli')],
        { env: { ...process.env, ...consoleEnv(s.broker) }, stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      p.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
      p.stderr!.on('data', (d: Buffer) => { text += d.toString(); });
      const code = await new Promise<number>((r) => p.once('exit', (c) => r(c ?? -1)));
      if (code !== 0) throw new Error(`orbox fleet ota exited ${code}:\n${text}`);
      for (const x of boxes) {
        if (!new RegExp(`${x.boxId}: SUCCEEDED`).test(text)) throw new Error(`no SUCCEEDED line for ${x.boxId}:\n${text}`);
        if (!new RegExp(`${x.boxId} +\\[#+-*\\] +\\d+% installing`).test(text)) throw new Error(`no progress bar line for ${x.boxId}:\n${text}`);
        await assertGoodOn(x, '1.1.0');
      }
      return `exit 0; ${text.split('\n').filter((l) => /\[#/.test(l)).length} progress lines; "${text.trim().split('\n').pop()}"`;
    });
  },
});

SCENARIOS.push(
  {
    name: 'a job held past its timeout (case recording) -> TIMED_OUT, nothing installed',
    async run(s) {
      const b = makeBundle(s, 'to-1.1.0', '1.1.0');
      return withBox(s, {}, async (box) => {
        box.setBusy({ recording: true });
        const id = jobId('to');
        await box.send(jobBody(s, b, id, { timeoutS: 2 }));
        const f = await box.waitFinal(id, 20_000);
        if (f.status !== 'TIMED_OUT') throw new Error(`job ended ${f.status}: ${f.message}`);
        if (box.reboots) throw new Error('rebooted');
        return `TIMED_OUT "${f.message}"; still on ${box.lab.booted}`;
      });
    },
  },
  {
    name: 'RAUC D-Bus policy: only the agent\'s user may call RAUC',
    async run(s) {
      const { execFileSync } = await import('node:child_process');
      const { chmodSync } = await import('node:fs');
      return withBox(s, {}, async (box) => {
        // Let the other user reach the socket, so that the bus policy is what refuses it.
        for (const d of [s.root, box.dir, box.lab.dir]) chmodSync(d, 0o711);
        const call = (user?: string) => {
          const args = ['--system', '--print-reply', '--dest=de.pengutronix.rauc', '/', 'de.pengutronix.rauc.Installer.GetPrimary'];
          const cmd = user ? ['runuser', ['-u', user, '--', 'dbus-send', ...args]] as const : ['dbus-send', args] as const;
          try {
            return { ok: true, text: execFileSync(cmd[0], [...cmd[1]], { env: box.lab.env(), stdio: ['ignore', 'pipe', 'pipe'] }).toString() };
          } catch (err) {
            return { ok: false, text: (err as { stderr?: Buffer }).stderr?.toString() ?? String(err) };
          }
        };
        const root = call();
        const nobody = call('nobody');
        if (!root.ok) throw new Error(`root refused: ${root.text}`);
        if (nobody.ok || !/AccessDenied/.test(nobody.text)) throw new Error(`nobody was not refused: ${nobody.text}`);
        return `root: ${root.text.trim().split('\n').pop()!.trim()}; nobody: ${nobody.text.trim().split(':').slice(0, 2).join(':')}`;
      });
    },
  },
);

SCENARIOS.push({
  name: 'power cut at "rolling-back" (unhealthy new slot, box killed before Mark bad, rebooted)',
  async run(s) {
    const b = makeBundle(s, 'rbcut-1.2.0', '1.2.0');
    return withBox(s, { healthWindowMs: 1000, healthTimeoutMs: 2500 }, async (box) => {
      const id = jobId('rbcut');
      let cut = false;
      box.opts.onJobLine = (l) => {
        if (!l.includes(id)) return;
        if (/ IN_PROGRESS verifying /.test(l)) box.setHealth('unhealthy');
        if (/ IN_PROGRESS rolling-back /.test(l) && !cut) {
          cut = true;
          void box.powerCut({ rauc: true, reboot: true });
        }
        if (/ FAILED /.test(l)) box.setHealth('healthy');
      };
      await box.send(jobBody(s, b, id));
      const f = await box.waitFinal(id, 60_000);
      if (!cut) throw new Error('never reached rolling-back');
      if (f.status !== 'FAILED' || !/rolled back/.test(f.message)) throw new Error(`job ended ${f.status}: ${f.message}`);
      await assertGoodOn(box, '1.0.0');
      return `FAILED "${f.message}"; on ${box.lab.booted} (good) after ${box.lab.boots} boots; B attempts ${box.lab.bootState().attempts.B}`;
    });
  },
});

SCENARIOS.push({
  name: 'cancel a downloaded job held by a recording; the next job runs',
  async run(s) {
    const b1 = makeBundle(s, 'ch-1.1.0', '1.1.0');
    const b2 = makeBundle(s, 'ch-1.2.0', '1.2.0');
    return withBox(s, {}, async (box) => {
      box.setBusy({ recording: true });
      const j1 = jobId('ch1');
      await box.send(jobBody(s, b1, j1));
      await waitFor(() => box.jobs(j1).some((e) => /case is recording/.test(e.message)), 20_000, 'install waiting for the recording');
      await box.send({ kind: 'otaCancel', jobId: j1 });
      const f1 = await box.waitFinal(j1);
      if (f1.status !== 'CANCELED') throw new Error(`held job ended ${f1.status}`);
      const j2 = jobId('ch2');
      await box.send(jobBody(s, b2, j2));
      await waitFor(() => box.jobs(j2).some((e) => /case is recording/.test(e.message)), 20_000, 'second job reaching the install');
      box.setBusy({});
      const f2 = await box.waitFinal(j2);
      if (f2.status !== 'SUCCEEDED') throw new Error(`second job ended ${f2.status}: ${f2.message}`);
      await assertGoodOn(box, '1.2.0');
      return 'held job CANCELED before RAUC saw it; the next job went through once the case ended';
    });
  },
}, {
  name: 'cancel a queued job while another downloads: the download goes on',
  async run(s) {
    const b1 = makeBundle(s, 'cq-1.1.0', '1.1.0');
    return withBox(s, {}, async (box) => {
      s.server.stallNext(1500);
      const j1 = jobId('cq1');
      const j2 = jobId('cq2');
      await box.send(jobBody(s, b1, j1));
      await box.send(jobBody(s, b1, j2));
      await box.send({ kind: 'otaCancel', jobId: j2 }); // while j1's request waits for its body
      const f2 = await box.waitFinal(j2);
      const f1 = await box.waitFinal(j1);
      if (f2.status !== 'CANCELED' || f1.status !== 'SUCCEEDED') throw new Error(`jobs ended ${f1.status} (${f1.message}) / ${f2.status}`);
      await assertGoodOn(box, '1.1.0');
      return 'queued job CANCELED; the running download was not touched, its job SUCCEEDED';
    });
  },
});

SCENARIOS.push({
  name: 'reboot waits for a talk session and an expert uplink to end (install does not)',
  async run(s) {
    const b = makeBundle(s, 'tk-1.1.0', '1.1.0');
    return withBox(s, {}, async (box) => {
      box.setBusy({ talk: true, uplink: true });
      const id = jobId('tk');
      await box.send(jobBody(s, b, id));
      await waitFor(() => box.jobs(id).some((e) => /reboot waits: a talk session/.test(e.message)), 30_000, 'reboot held by the talk session');
      if (box.reboots) throw new Error('rebooted during the talk session');
      box.setBusy({ uplink: true });
      await waitFor(() => box.jobs(id).some((e) => /reboot waits: an expert uplink/.test(e.message)), 30_000, 'reboot held by the uplink');
      if (box.reboots) throw new Error('rebooted during the uplink');
      box.setBusy({});
      const f = await box.waitFinal(id);
      if (f.status !== 'SUCCEEDED') throw new Error(`job ended ${f.status}: ${f.message}`);
      await assertGoodOn(box, '1.1.0');
      return 'installed during the session; reboot held by the talk session, then by the uplink; SUCCEEDED after both ended';
    });
  },
});

SCENARIOS.push(...['Checking bundle', 'Copying image'].map((stage): Scenario => ({
  name: `RAUC alone killed at "${stage}" (no Completed; the service manager restarts it)`,
  async run(s) {
    const b = makeBundle(s, `rk-${stage.replace(/ /g, '')}`, '1.1.0', { bytes: 1 << 20 });
    return withBox(s, {}, async (box) => {
      const id = jobId('rk');
      let killed = false;
      box.opts.onJobLine = (l) => {
        if (killed || !l.includes(id) || !l.includes(stage)) return;
        killed = true;
        void box.lab.killService().then(() => new Promise((r) => setTimeout(r, 500))).then(() => box.lab.startService());
      };
      await box.send(jobBody(s, b, id));
      const f = await box.waitFinal(id, 60_000);
      if (!killed) throw new Error(`never reached "${stage}"`);
      if (f.status !== 'SUCCEEDED') throw new Error(`job ended ${f.status}: ${f.message}`);
      await assertGoodOn(box, '1.1.0');
      const attempts = box.lines.filter((l) => l.includes(id) && / installing 0 installing$/.test(l)).length;
      return `agent saw RAUC leave the bus, reconnected, ${attempts} install attempts; SUCCEEDED on ${box.lab.booted}`;
    });
  },
})));

/**
 * The channels' `snapshot` section: defaults, every bad value refused with its key path (by
 * the schema and by `orbox config check`), and the ring plan that follows from it.
 */
import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { ConfigError, validateConfig } from '../index.js';
import { planRings } from '../../runtime/index.js';

const base = (snapshot?: unknown, second?: unknown) => ({
  box: { id: 'or-3', dataDir: '/tmp/orbox-3' },
  api: { socket: '/tmp/orbox-3/orbox.sock' },
  channels: [
    {
      name: 'endoscope', source: { type: 'test-pattern', width: 1920, height: 1080, fps: 30 },
      hq: { width: 1920, height: 1080, bitrateKbps: 8000, gop: 15 }, lq: { width: 960, height: 540, bitrateKbps: 1500, gop: 15 },
      ...(snapshot === undefined ? {} : { snapshot }),
    },
    {
      name: 'room', source: { type: 'test-pattern', width: 1280, height: 720, fps: 30 },
      hq: { width: 1280, height: 720, bitrateKbps: 4000, gop: 15 }, lq: { width: 640, height: 360, bitrateKbps: 800, gop: 15 },
      ...(second === undefined ? {} : { snapshot: second }),
    },
  ],
});

t.test('stills are on by default, at the profile\'s interval and the source\'s width', async (t) => {
  const c = validateConfig(base());
  t.same(c.channels[0].snapshot, { enabled: true });
  const d = validateConfig(base({ intervalS: 10, width: 640 }, { enabled: false }));
  t.same(d.channels[0].snapshot, { enabled: true, intervalS: 10, width: 640 });
  t.same(d.channels[1].snapshot, { enabled: false });
});

t.test('a bad snapshot section is refused, each problem with its key path', async (t) => {
  const cases: [unknown, unknown, RegExp][] = [
    [{ width: 641 }, undefined, /^ {2}channels\[0\]\.snapshot\.width: must be even \(4:2:0 chroma\), found 641$/m],
    [{ width: 2560 }, undefined, /^ {2}channels\[0\]\.snapshot\.width: at most the source's width \(1920\); stills are never scaled up, found 2560$/m],
    [undefined, { width: 1920 }, /^ {2}channels\[1\]\.snapshot\.width: at most the source's width \(1280\)/m],
    [{ intervalS: 0 }, undefined, /^ {2}channels\[0\]\.snapshot\.intervalS: Too small: expected number to be >=1, found 0$/m],
    [{ intervalS: 1.5 }, undefined, /^ {2}channels\[0\]\.snapshot\.intervalS: expected int, found 1\.5$/m],
    [{ every: 5 }, undefined, /^ {2}channels\[0\]\.snapshot\.every: unknown key "every"$/m],
    [{ enabled: 'yes' }, undefined, /^ {2}channels\[0\]\.snapshot\.enabled: expected boolean, found "yes"$/m],
    [true, undefined, /^ {2}channels\[0\]\.snapshot: expected object, found true$/m],
  ];
  for (const [first, second, re] of cases) {
    const err = t.throws(() => validateConfig(base(first, second), 'box.yaml')) as ConfigError;
    t.type(err, ConfigError);
    t.match(err.message, re, `${JSON.stringify(first ?? second)}`);
    t.equal(err.problems.length, 1, 'one problem, reported once');
  }
});

t.test('orbox config check names the key path and exits 2', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'orbox-snapcfg-'));
  const file = join(dir, 'box.yaml');
  writeFileSync(file, stringify(base({ width: 3840, intervalS: 0 })));
  const cli = new URL('../../../../bin/orbox.js', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [cli, 'config', 'check', file], { encoding: 'utf8' });
  t.equal(r.status, 2);
  t.match(r.stderr, /channels\[0\]\.snapshot\.intervalS: Too small/);
  t.match(r.stderr, /channels\[0\]\.snapshot\.width: at most the source's width \(1920\)/);
});

t.test('the ring plan has snap.<channel> (video-encode -> control) only where stills are on', async (t) => {
  const rings = planRings(validateConfig(base(undefined, { enabled: false })));
  const snap = rings.filter((r) => r.name.startsWith('snap.'));
  t.same(snap.map((r) => [r.name, r.type, r.producer, r.consumers]), [['snap.endoscope', 'record', 'video-encode', ['control']]]);
  t.equal(snap[0].bytes, 4 << 20, 'sized for a 1080p still');
});

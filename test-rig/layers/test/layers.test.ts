// The layer check (test-rig/layers/check.ts): the checkout passes it, and each kind of problem
// it exists for is caught in a small tree made for the purpose.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkLayers, type LAYERS } from '../check.js';

const checkout = join(dirname(fileURLToPath(import.meta.url)), '../../../..');

t.test('the checkout: every folder placed, every import downward, no circle', async (t) => {
  const problems = checkLayers(checkout);
  t.same(problems.map((p) => `${p.kind}: ${p.message}`), []);
  const out = execFileSync(process.execPath, [join(checkout, 'dist/test-rig/layers/check.js'), checkout], { encoding: 'utf8' });
  t.match(out, /every import downward/);
});

t.test('a made-up tree: upward, unplaced, circles and the test rig are each reported', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'orbox-layers-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const put = (path: string, text: string) => { mkdirSync(dirname(join(root, path)), { recursive: true }); writeFileSync(join(root, path), text); };
  const layers: typeof LAYERS = [
    { name: 'lib', folders: ['edge/lib'] },
    { name: 'media', folders: ['edge/a', 'edge/b'] },
    { name: 'workers', folders: ['edge/workers'] },
  ];
  put('edge/lib/ok.ts', `export const x = 1;\n`);
  put('edge/lib/up.ts', `import type { W } from '../workers/w.js';\nexport type U = W;\n`);
  put('edge/workers/w.ts', `import { x } from '../lib/ok.js';\nexport type W = typeof x;\n`);
  put('edge/workers/test/w.test.ts', `import '../../../test-rig/sim.js';\n`); // tests may
  put('edge/a/one.ts', `export { two } from '../b/two.js';\nexport const one = 1;\n`);
  put('edge/b/two.ts', `export const two = async () => import('../a/one.js');\n`);
  put('edge/lib/p.ts', `import { q } from './q.js';\nexport const p = q;\n`);
  put('edge/lib/q.ts', `import { p } from './p.js';\nexport const q = () => p;\n`);
  put('edge/audio/new.ts', `export const n = 1;\n`);
  put('edge/workers/demo.ts', `const sim = new URL('../../test-rig/devices/sim.js', import.meta.url);\nexport { sim };\n`);
  const got = checkLayers(root, layers, ['edge']).map((p) => `${p.kind}: ${p.message}`);
  t.same(got.sort(), [
    'file circle: modules import each other: edge/a/one.ts -> edge/b/two.ts -> edge/a/one.ts',
    'file circle: modules import each other: edge/lib/p.ts -> edge/lib/q.ts -> edge/lib/p.ts',
    'folder circle: folders import each other: edge/a -> edge/b -> edge/a',
    'test-rig: edge/workers/demo.ts: product code names \'../../test-rig/devices/sim.js\'; the test rig is not part of the firmware',
    'unplaced: edge/audio/new.ts: folder edge/audio has no layer: place it in LAYERS (test-rig/layers/check.ts)',
    'upward: edge/lib/up.ts:1: imports ../workers/w.js: edge/workers (workers) is above edge/lib (lib)',
  ].sort());
});

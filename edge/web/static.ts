/**
 * The console's static files: edge/web/static/ (plain JS and CSS, no build step), and uPlot's
 * and hls.js's browser builds from node_modules. Read once per name and kept; names are a fixed list, so no
 * path from a URL ever reaches the file system.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);

function staticDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'edge', 'web', 'static');
    if (existsSync(p)) return p;
    dir = dirname(dir);
  }
  throw new Error(`edge/web/static not found above ${dirname(fileURLToPath(import.meta.url))}`);
}

const FILES: Record<string, { type: string; path: () => string }> = {
  'app.js': { type: 'text/javascript; charset=utf-8', path: () => join(staticDir(), 'app.js') },
  'app.css': { type: 'text/css; charset=utf-8', path: () => join(staticDir(), 'app.css') },
  'uplot.js': { type: 'text/javascript; charset=utf-8', path: () => join(dirname(require.resolve('uplot')), 'uPlot.iife.min.js') },
  'uplot.css': { type: 'text/css; charset=utf-8', path: () => join(dirname(require.resolve('uplot')), 'uPlot.min.css') },
  // hls.js's light build (no subtitles, alternate audio or DRM): the recorded-case player.
  'hls.js': { type: 'text/javascript; charset=utf-8', path: () => join(dirname(require.resolve('hls.js')), 'hls.light.min.js') },
};
const cache = new Map<string, { type: string; body: Buffer }>();

export function staticAsset(name: string): { type: string; body: Buffer } | undefined {
  const f = FILES[name];
  if (!f) return undefined;
  let a = cache.get(name);
  if (!a) cache.set(name, (a = { type: f.type, body: readFileSync(f.path()) }));
  return a;
}

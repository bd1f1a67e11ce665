/**
 * The layer check: every folder of the firmware has a layer, and imports only run downward.
 *
 * `make layers` (and the layers test, so `make test`) runs it on the checkout:
 *   node dist/test-rig/layers/check.js [root]
 * It prints one line per problem and exits 1 when there is any, 0 otherwise.
 *
 * What it checks, over every non-test `.ts` file under the roots (`edge/`, `gst-pipelines/`):
 *  - unplaced: a file in a folder that no entry of LAYERS covers (an entry covers its
 *    subfolders). A new folder must be given a layer here before it lands.
 *  - upward: a relative import (static, `export ... from`, dynamic `import()`, type-only
 *    ones too) of a folder whose layer is above the importer's.
 *  - folder circle: folders of one layer that import each other, directly or round a loop.
 *  - file circle: modules that import each other round a loop, inside one folder or across.
 *  - test-rig: product code that imports or names a file of `test-rig/` (the hospital stand-ins
 *    are not part of the firmware that ships).
 * Tests (files under a `test/` folder) may import anything and are not checked.
 *
 * Imports are read with TypeScript's own pre-processor (ts.preProcessFile), not a regex.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

/**
 * The layers, lowest first. A folder may import its own layer's folders (no circle) and any
 * layer below; `edge/devices` covers `edge/devices/s5`, and so on.
 */
export const LAYERS: readonly { name: string; folders: readonly string[] }[] = [
  { name: 'lib', folders: ['edge/lib'] },
  { name: 'protocols', folders: ['edge/rtp', 'edge/srtp', 'edge/proto', 'edge/gst', 'edge/devices', 'edge/fleet', 'edge/recording', 'edge/audit', 'edge/upload', 'edge/access', 'edge/onvif', 'gst-pipelines'] },
  { name: 'config', folders: ['edge/config'] },
  { name: 'media', folders: ['edge/video', 'edge/audio', 'edge/net', 'edge/demo'] },
  { name: 'runtime', folders: ['edge/runtime'] },
  { name: 'ota', folders: ['edge/ota'] },
  { name: 'control', folders: ['edge/control'] },
  { name: 'web', folders: ['edge/web'] },
  { name: 'workers', folders: ['edge/workers'] },
  { name: 'supervisor', folders: ['edge/supervisor'] },
  { name: 'cli', folders: ['edge/cli'] },
];

export const ROOTS: readonly string[] = ['edge', 'gst-pipelines'];

export interface Problem {
  kind: 'unplaced' | 'upward' | 'folder circle' | 'file circle' | 'test-rig';
  /** Repository-relative file the problem is found in (the first of a circle). */
  file: string;
  message: string;
}

function listTs(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'test' && name !== 'node_modules') listTs(p, out);
    } else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const posix = (p: string) => p.split(sep).join('/');

/** The unit (the LAYERS entry) a repository-relative path belongs to: longest prefix wins. */
function unitOf(rel: string, layers: typeof LAYERS): { folder: string; layer: number } | undefined {
  let best: { folder: string; layer: number } | undefined;
  layers.forEach((l, layer) => {
    for (const f of l.folders) {
      if ((rel === f || rel.startsWith(f + '/')) && (!best || f.length > best.folder.length)) best = { folder: f, layer };
    }
  });
  return best;
}

/** Finds the cycles of a directed graph (one per strongly connected component of 2+ nodes, or a self-loop). */
function cycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const strong = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; on.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || graph.get(v)?.has(v)) out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  return out;
}

/** One loop through a strongly connected component, for the message: a -> b -> ... -> a. */
function loopThrough(comp: string[], graph: Map<string, Set<string>>): string[] {
  const inComp = new Set(comp);
  const start = comp[0]!;
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift()!;
    for (const w of [...(graph.get(v) ?? [])].sort()) {
      if (!inComp.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(prev.get(path[0]!)!);
        return [...path, start];
      }
      if (!prev.has(w) && w !== start) { prev.set(w, v); queue.push(w); }
    }
  }
  return [...comp, start];
}

/** Checks the tree under `root`; returns every problem found, sorted by file. */
export function checkLayers(root: string, layers: typeof LAYERS = LAYERS, roots: readonly string[] = ROOTS): Problem[] {
  const problems: Problem[] = [];
  const files = roots.flatMap((r) => {
    try { return listTs(join(root, r)); } catch { return []; }
  }).map((f) => posix(relative(root, f))).sort();
  const fileGraph = new Map<string, Set<string>>();
  const folderGraph = new Map<string, Set<string>>();

  for (const file of files) {
    const from = unitOf(file, layers);
    if (!from) {
      problems.push({ kind: 'unplaced', file, message: `${file}: folder ${dirname(file)} has no layer: place it in LAYERS (test-rig/layers/check.ts)` });
      continue;
    }
    const text = readFileSync(join(root, file), 'utf8');
    const testRig = /['"`][^'"`\n]*test-rig\/[^'"`\n]*['"`]/.exec(text);
    if (testRig) problems.push({ kind: 'test-rig', file, message: `${file}: product code names ${testRig[0]}; the test rig is not part of the firmware` });
    const edges = new Set<string>();
    fileGraph.set(file, edges);
    for (const ref of ts.preProcessFile(text, true, true).importedFiles) {
      const spec = ref.fileName;
      if (!spec.startsWith('.')) continue;
      const target = posix(relative(root, resolve(root, dirname(file), spec))).replace(/\.js$/, '.ts');
      const line = text.slice(0, ref.pos).split('\n').length;
      if (target.startsWith('test-rig/')) {
        problems.push({ kind: 'test-rig', file, message: `${file}:${line}: imports ${spec}; the test rig is not part of the firmware` });
        continue;
      }
      const to = unitOf(target, layers);
      if (!to) continue; // an unplaced target is reported at its own file
      edges.add(target);
      if (to.folder === from.folder) continue;
      if (to.layer > from.layer) {
        problems.push({ kind: 'upward', file, message: `${file}:${line}: imports ${spec}: ${to.folder} (${layers[to.layer]!.name}) is above ${from.folder} (${layers[from.layer]!.name})` });
      } else if (to.layer === from.layer) {
        if (!folderGraph.has(from.folder)) folderGraph.set(from.folder, new Set());
        folderGraph.get(from.folder)!.add(to.folder);
      }
    }
  }
  for (const comp of cycles(folderGraph)) {
    problems.push({ kind: 'folder circle', file: comp[0]!, message: `folders import each other: ${loopThrough(comp, folderGraph).join(' -> ')}` });
  }
  for (const comp of cycles(fileGraph)) {
    problems.push({ kind: 'file circle', file: comp[0]!, message: `modules import each other: ${loopThrough(comp, fileGraph).join(' -> ')}` });
  }
  return problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = resolve(process.argv[2] ?? '.');
  const problems = checkLayers(root);
  for (const p of problems) console.log(`${p.kind}: ${p.message}`);
  console.log(problems.length ? `layers: ${problems.length} problem(s)` : `layers: every folder placed, every import downward, no circle`);
  process.exit(problems.length ? 1 : 0);
}

#!/usr/bin/env node
// The `orbox` command: the compiled CLI (run `make` or `npx tsc` first in a checkout).
import('../dist/edge/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/edge/cli')) {
    console.error('orbox: not built yet; run `make` (or `npx tsc -p .`) in the checkout first');
    process.exit(2);
  }
  throw err;
});

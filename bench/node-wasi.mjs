// node-wasi.mjs: runs a WASI preview1 module under Node.js (V8's Liftoff and
// TurboFan tiers), for bench/run to compare with.
//
//   node bench/node-wasi.mjs FILE.wasm [ARGS...]
//
// The module sees FILE.wasm as argv[0] and ARGS after it, the caller's
// environment, and no preopened directories. The exit status is the
// module's (proc_exit or the return of main); a trap or load error prints
// one line and exits 1.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import process from 'node:process';

// node:wasi warns that it is experimental on every run: keep stderr for the
// module's own output, pass any other warning through.
const printWarning = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (w) => {
  if (w.name === 'ExperimentalWarning' && /WASI/.test(w.message)) return;
  for (const listener of printWarning) listener(w);
});
const { WASI } = await import('node:wasi');

const [file, ...args] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node node-wasi.mjs FILE.wasm [ARGS...]\n');
  process.exit(2);
}

try {
  const wasi = new WASI({
    version: 'preview1',
    args: [basename(file), ...args],
    env: process.env,
    returnOnExit: true,
  });
  const module = await WebAssembly.compile(await readFile(file));
  const instance = await WebAssembly.instantiate(module, {
    wasi_snapshot_preview1: wasi.wasiImport,
  });
  process.exitCode = wasi.start(instance);
} catch (err) {
  process.stderr.write(`node-wasi: ${file}: ${err.message}\n`);
  process.exitCode = 1;
}

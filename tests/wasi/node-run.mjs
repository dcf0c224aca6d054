// node-run.mjs: runs a WASI module under Node.js with the same command line
// as `kiln run`, so the test driver can compare the two.
//
//   node node-run.mjs [--dir HOST[::GUEST]]... [--env NAME=VALUE]... FILE.wasm [ARGS...]
//
// argv[0] is FILE as given, the environment only what --env gives, as kiln
// does. The exit status is the module's; a trap prints one line, exits 134.
import { readFile } from 'node:fs/promises';
import process from 'node:process';

process.removeAllListeners('warning'); // node:wasi's "experimental" notice
const { WASI } = await import('node:wasi');

const argv = process.argv.slice(2);
const preopens = {};
const env = {};
while (argv.length && argv[0].startsWith('--')) {
  const [opt, value] = [argv.shift(), argv.shift()];
  if (opt === '--dir') {
    const [host, guest] = value.split('::');
    preopens[guest ?? host] = host;
  } else if (opt === '--env') {
    const i = value.indexOf('=');
    env[value.slice(0, i)] = value.slice(i + 1);
  } else {
    process.stderr.write(`node-run: unknown option ${opt}\n`);
    process.exit(2);
  }
}
const file = argv[0];
const wasi = new WASI({ version: 'preview1', args: argv, env, preopens, returnOnExit: true });
try {
  const module = await WebAssembly.compile(await readFile(file));
  const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
  process.exitCode = wasi.start(instance);
} catch (err) {
  process.stderr.write(`node-run: trap: ${err.message}\n`);
  process.exitCode = 134;
}

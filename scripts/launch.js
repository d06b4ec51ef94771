// What `npm start`, `npm run sim` and `npm run device` run first. Plain JavaScript on purpose: it runs
// before the build (and for the device, instead of a raw MODULE_NOT_FOUND when there is none).
//   node scripts/launch.js device-built   exit 1 with one line when dist/server/main.js is missing
//   node scripts/launch.js sim ARGS…      the simulator CLI: refuse a second `start` on a data directory
//                                         BEFORE rebuilding dist/ under the running one, build, run
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/', import.meta.url);
const [mode, ...args] = process.argv.slice(2);

if (mode === 'device-built') {
  if (!fs.existsSync(new URL('server/main.js', dist))) {
    process.stderr.write('The device is not built yet: run "npm run build" first, then "npm run device".\n');
    process.exit(1);
  }
  process.exit(0);
}
if (mode !== 'sim') throw new Error(`scripts/launch.js: unknown mode "${mode}"`);

/** The simulator already running on the data directory these arguments name, if any (as the last build finds it). */
async function runningSimulator() {
  if (!fs.existsSync(new URL('firmware-sim/run-file.js', dist))) return undefined; // never built: nothing runs
  // A query makes these module instances of their own: the CLI imports the rebuilt files afresh.
  const cliArgs = await import(new URL('firmware-sim/cli-args.js?before-build', dist).href);
  const runFile = await import(new URL('firmware-sim/run-file.js?before-build', dist).href);
  let commandLine;
  try {
    commandLine = cliArgs.parseCommandLine(args);
  } catch {
    return undefined; // a usage error: the CLI itself says what is wrong
  }
  const state = runFile.runningSimulator(cliArgs.dataDirOf(commandLine.values));
  return state && { state, start: commandLine.command === 'start' && !commandLine.values.help, message: runFile.alreadyRunningMessage(state) };
}

// An older build that cannot tell must not stop the build that fixes it.
const running = await runningSimulator().catch(() => undefined);
if (running?.start) {
  process.stderr.write(`sim: ${running.message}\n`);
  process.exit(1);
}
if (running) {
  process.stderr.write(`(not rebuilding dist/: the simulator running at ${running.state.devices[0]?.url ?? running.state.controlUrl}/ uses it)\n`);
} else {
  // `npm run build` itself, so package.json stays the one home of the build command
  const options = { stdio: 'inherit', cwd: fileURLToPath(new URL('..', import.meta.url)) };
  const npm = process.env.npm_execpath;
  const build = npm ? spawnSync(process.execPath, [npm, 'run', 'build'], options) : spawnSync('npm', ['run', 'build'], { ...options, shell: true });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const { runCli } = await import(new URL('firmware-sim/cli.js', dist).href);
runCli(args);

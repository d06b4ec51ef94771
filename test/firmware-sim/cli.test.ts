/**
 * The simulator's CLI as QA uses it: help, the scenario list, usage errors (exit 2), commands that
 * need a running simulator (exit 1), and `start` itself: banner, a fault from another "shell"
 * through the control endpoint, Ctrl+C stops the device processes.
 * Then the npm commands as a newcomer meets them, run for real in a scratch copy of the project
 * (its own dist/, so a build there never rewrites the files this test runs from).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { PanelClient } from '../../firmware-sim/panel-client.js';
import { SCENARIOS } from '../../firmware-sim/scenarios/index.js';
import { freePort, pressGetToken } from '../../firmware-sim/sim-device.js';
import { tempDir } from '../helpers/device.js';

const CLI = fileURLToPath(new URL('../../firmware-sim/cli.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function sim(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm run sim', () => {
  test('--help lists the commands and options', () => {
    const r = sim(['--help']);
    assert.equal(r.code, 0, r.stderr);
    for (const word of ['start', 'scan', 'event', 'fault', 'scenario', '--devices', '--shape', '--device', '--all', '--list']) assert.ok(r.stdout.includes(word), `help mentions ${word}`);
    assert.equal(sim(['help']).stdout, r.stdout);
  });

  test('scenario --list names every scenario of the catalog', () => {
    const r = sim(['scenario', '--list']);
    assert.equal(r.code, 0, r.stderr);
    const names = r.stdout.trim().split('\n').map((line) => line.split(/\s+/)[0]);
    assert.deepEqual(names, SCENARIOS.map((s) => s.name));
    for (const name of ['first-setup', 'password-reset', 'token-expiry', 'consent-denied', 'device-code-timeout', 'smtp-auth-disabled', 'bad-xoauth2', 'provider-outage', 'large-recipient-list', 'many-printers']) {
      assert.ok(names.includes(name), `the catalog has ${name}`);
    }
  });

  test('usage errors exit with code 2 and say what is wrong', () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command "frobnicate"/],
      [[], /no command given/],
      [['--bogus'], /Unknown option '--bogus'/],
      [['scenario', 'no-such-scenario'], /unknown scenario "no-such-scenario"/],
      [['scenario'], /name one, or use --all or --list/],
      [['event', 'coffee_empty'], /event: one of toner_low, paper_jam, service_call, cleared/],
      [['scan'], /--to takes 1 to 200/],
      [['fault', 'smtp', 'banana'], /an SMTP fault is a reply line/],
      [['fault', 'printer', 'x'], /unknown fault target "printer"/],
      [['start', '--shape', 'yahoo'], /--shape must be generic, microsoft or google/],
      [['start', '--devices', '0'], /--devices must be a whole number from 1 to 50/],
    ];
    const dir = tempDir('mfp-sim-cli-');
    for (const [args, message] of cases) {
      const r = sim(args, { MFP_DATA_DIR: dir });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, /npm run sim -- --help/);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('commands for a running simulator fail with code 1 when none runs', () => {
    const dir = tempDir('mfp-sim-cli-');
    for (const args of [['fault', 'smtp', '5.7.139'], ['fault', 'clear'], ['scan', '--to', 'a@example.com'], ['event', 'toner_low']]) {
      const r = sim(args, { MFP_DATA_DIR: dir });
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /no running simulator/);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('start: banner, a fault and a scan from another shell, Ctrl+C stops the devices', { timeout: 60_000 }, async () => {
    const dir = tempDir('mfp-sim-start-');
    const ports = await Promise.all(Array.from({ length: 8 }, () => freePort()));
    const env = {
      MFP_DATA_DIR: dir, PORT: String(ports[0]), HTTPS_PORT: String(ports[2]), LAB_AUTH_PORT: String(ports[4]), LAB_SMTP_PORT: String(ports[5]),
      LAB_POP_PORT: String(ports[6]), LAB_CONTROL_PORT: String(ports[7]), MFP_ADMIN_PASSWORD: 'cli-test-password',
    };
    const child = spawn(process.execPath, [CLI, 'start', '--devices', '2', '--auto-approve'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 40_000;
      while (!out.includes('Simulated printer is running') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      assert.ok(out.includes('Simulated printer is running'), out);
      assert.ok(out.includes(`http://127.0.0.1:${ports[0]}/`), 'the first panel URL');
      assert.ok(out.includes(`http://127.0.0.1:${ports[0]! + 1}/`), 'the second panel URL');
      assert.ok(out.includes('cli-test-password'), 'the admin password');
      assert.ok(out.includes('printer@lab.example') && out.includes('lab-password'), 'the lab login');

      const fault = sim(['fault', 'smtp', '454', '--count', '2'], env);
      assert.equal(fault.code, 0, fault.stderr);
      assert.match(fault.stdout, /Fault set: smtp: "454 4\.7\.0 Temporary authentication failure" on AUTH \(next 2\)/);
      const state = JSON.parse(sim(['fault', 'state'], env).stdout) as { faults: { smtp: string | null } };
      assert.match(state.faults.smtp ?? '', /454/);
      assert.equal(sim(['fault', 'clear'], env).code, 0);
      assert.equal((JSON.parse(sim(['fault', 'state'], env).stdout) as { faults: { smtp: string | null } }).faults.smtp, null);

      const scan = sim(['scan', '--to', 'a@example.com,b@example.com', '--device', '2', '--pages', '2'], env);
      assert.equal(scan.code, 0, scan.stderr);
      assert.match(scan.stdout, /printer 2: scan-to-email "Scan \d+" \(2-page PDF .*\) to a@example\.com, b@example\.com → job \d+/);
      const event = sim(['event', 'toner_low'], env);
      assert.equal(event.code, 0, event.stderr);
      assert.match(event.stdout, /printer 1: event toner_low → event \d+, no alert mail/);
      const status = JSON.parse(sim(['status'], env).stdout) as { events: unknown[] };
      assert.equal(status.events.length, 1);
      assert.ok(fs.existsSync(`${dir}/sim.json`));
    } finally {
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, out);
    }
    assert.equal(fs.existsSync(`${dir}/sim.json`), false, 'the run file is removed');
    for (const port of [ports[0]!, ports[0]! + 1]) {
      await assert.rejects(fetch(`http://127.0.0.1:${port}/login`), `the device on ${port} is stopped`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

// --- npm start / npm run device, as a newcomer runs them ------------------------------------------

/** A copy of the project (sources, scripts, package.json, the current dist/; node_modules linked). */
function scratchCheckout(withDist: boolean): string {
  const dir = tempDir('mfp-checkout-');
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'scripts', 'server', 'firmware-sim', 'test', 'bench', 'views', 'public', ...(withDist ? ['dist'] : [])]) {
    fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true, filter: (source) => !source.includes(`${path.sep}artifacts`) });
  }
  fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules')), path.join(dir, 'node_modules'));
  return dir;
}

/** The environment a newcomer's shell has (not the npm_* variables of an `npm test` around us). */
function shellEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  return { ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('npm_'))), ...extra };
}

function npm(cwd: string, args: string[], env: Record<string, string>) {
  const r = spawnSync('npm', args, { cwd, encoding: 'utf8', env: shellEnv(env), timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}${r.stderr}` };
}

async function labPorts(): Promise<Record<string, string>> {
  const [device, https, auth, smtp, pop, control] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  return { PORT: String(device), HTTPS_PORT: String(https), LAB_AUTH_PORT: String(auth), LAB_SMTP_PORT: String(smtp), LAB_POP_PORT: String(pop), LAB_CONTROL_PORT: String(control) };
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number, output: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what} did not happen within ${timeoutMs} ms; output:\n${output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Started { child: ChildProcess; output(): string; exited: Promise<number | null> }

function startSim(cwd: string, args: string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, [path.join(cwd, 'dist/firmware-sim/cli.js'), 'start', ...args], { cwd, env: shellEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('npm run device before a build', () => {
  test('says to build first, in one line, instead of a MODULE_NOT_FOUND stack, and exits non-zero', () => {
    const dir = tempDir('mfp-unbuilt-');
    for (const entry of ['package.json', 'scripts']) fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
    const r = npm(dir, ['run', 'device'], {});
    assert.notEqual(r.code, 0, r.all);
    assert.doesNotMatch(r.all, /MODULE_NOT_FOUND|Cannot find module|at Module\./);
    assert.match(r.stderr, /^The device is not built yet: run "npm run build" first, then "npm run device"\.\n$/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('npm start as a newcomer meets it', () => {
  let checkout: string;
  before(() => {
    checkout = scratchCheckout(true);
  });
  after(() => fs.rmSync(checkout, { recursive: true, force: true }));

  test('a bad environment variable is quoted, exit code 2, and nothing starts', { timeout: 120_000 }, async () => {
    const dataDir = path.join(tempDir('mfp-env-'), 'data');
    const ports = await labPorts();
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: 'abc' }, /PORT="abc" is not a port number \(1-65535\)/],
      [{ LAB_SMTP_PORT: '70000' }, /LAB_SMTP_PORT="70000" is not a port number \(1-65535\)/],
      [{ HTTPS_PORT: ports.LAB_AUTH_PORT! }, new RegExp(`HTTPS_PORT and LAB_AUTH_PORT are both ${ports.LAB_AUTH_PORT}`)],
      [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL="loud" is not a log level/],
    ];
    for (const [bad, message] of cases) {
      const r = npm(checkout, ['start'], { ...ports, MFP_DATA_DIR: dataDir, ...bad });
      assert.equal(r.code, 2, r.all);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.all, /NaN|Start-up failed|Simulated printer is running/);
      assert.equal(fs.existsSync(dataDir), false, `${JSON.stringify(bad)}: nothing written`);
    }
    for (const port of Object.values(ports)) assert.equal(await listening(Number(port)), false, `nothing listens on ${port}`);
    fs.rmSync(path.dirname(dataDir), { recursive: true, force: true });
  });

  describe('while one runs', () => {
    const dataDir = tempDir('mfp-running-');
    let ports: Record<string, string>;
    let env: Record<string, string>;
    let running: Started;
    before(async () => {
      ports = await labPorts();
      env = { ...ports, MFP_DATA_DIR: dataDir, MFP_ADMIN_PASSWORD: 'newcomer-password' };
      running = startSim(checkout, ['--auto-approve', '--minute-ms', '50'], env);
      await until('the banner', () => running.output().includes('Simulated printer is running'), 60_000, running.output);
    });
    after(async () => {
      if (running.child.exitCode === null) running.child.kill('SIGKILL');
      await running.exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
    });

    test('a second npm start says where the first runs, exits non-zero, leaves it and dist/ untouched', { timeout: 60_000 }, async () => {
      const built = fs.statSync(path.join(checkout, 'dist/firmware-sim/cli.js')).mtimeMs;
      const r = npm(checkout, ['start'], env);
      assert.equal(r.code, 1, r.all);
      const pid = running.child.pid;
      assert.ok(r.stderr.includes(`the simulator is already running at http://127.0.0.1:${ports.PORT}/ (pid ${pid}); stop it with Ctrl+C in its terminal`), r.all);
      assert.doesNotMatch(r.all, /EADDRINUSE|> tsc/);
      assert.equal(fs.statSync(path.join(checkout, 'dist/firmware-sim/cli.js')).mtimeMs, built, 'dist/ was not rebuilt');
      assert.equal(running.child.exitCode, null, 'the first one still runs');
      const login = await fetch(`http://127.0.0.1:${ports.PORT}/login`);
      assert.equal(login.status, 200);
    });

    test('no POP line while POP is not set up yet; a real failure of the configured check is shown', { timeout: 60_000 }, async () => {
      const printerLog = (): string => fs.readFileSync(path.join(dataDir, 'printer.log'), 'utf8');
      await until('two POP checks', () => (printerLog().match(/token_unavailable.*\(not_obtained\)/g) ?? []).length >= 2, 20_000, printerLog);
      assert.doesNotMatch(running.output(), /POP check/, 'the console stays quiet while no token is obtained');

      const panel = new PanelClient(`http://127.0.0.1:${ports.PORT}`);
      await panel.login('newcomer-password');
      await pressGetToken(panel, 'pop'); // the lab approves by itself (--auto-approve)
      await panel.waitForState('pop', ['obtained'], 20_000);
      const fault = sim(['fault', 'pop', 'auth'], env);
      assert.equal(fault.code, 0, fault.stderr);
      await until('the failed check on the console', () => /printer 1: POP check → failed, 0 fetched, problem /.test(running.output()), 20_000, running.output);
      assert.doesNotMatch(running.output(), /\((not_obtained|awaiting_authorization)\)/, 'still nothing of the checks before the token');
      assert.equal(sim(['fault', 'clear'], env).code, 0);
    });

    test('after kill -9 the next start is not blocked; Ctrl+C says everything stopped, and it did', { timeout: 90_000 }, async () => {
      running.child.kill('SIGKILL');
      await running.exited;
      assert.ok(fs.existsSync(path.join(dataDir, 'sim.json')), 'the killed one left its run file');
      running = startSim(checkout, [], env);
      await until('the banner of the new start', () => running.output().includes('Simulated printer is running'), 60_000, running.output);
      assert.doesNotMatch(running.output(), /already running|in use|Start-up failed/);

      running.child.kill('SIGINT');
      assert.equal(await running.exited, 0, running.output());
      assert.match(running.output(), /Everything stopped: the device, the lab servers( and Dovecot)?\.\n$/);
      for (const [name, port] of Object.entries(ports)) assert.equal(await listening(Number(port)), false, `${name} ${port} is closed`);
      assert.equal(fs.existsSync(path.join(dataDir, 'sim.json')), false, 'the run file is removed');
    });
  });
});

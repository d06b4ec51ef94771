/**
 * The simulator's CLI as QA uses it: help, the scenario list, usage errors (exit 2), commands that
 * need a running simulator (exit 1), and `start` itself: banner, a fault from another "shell"
 * through the control endpoint, Ctrl+C stops the device processes.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { SCENARIOS } from '../../firmware-sim/scenarios/index.js';
import { freePort } from '../../firmware-sim/sim-device.js';
import { tempDir } from '../helpers/device.js';

const CLI = fileURLToPath(new URL('../../firmware-sim/cli.js', import.meta.url));

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

/**
 * `npm run sim -- <command>`: the simulated printer QA drives. `npm start` is `start` with its defaults.
 * Exit codes: 0 done, 1 a scenario or an operation failed, 2 a usage error.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, parsePort, readConfig } from '../server/config.js';
import { FaultSyntaxError, parseFault, startCloud, type Cloud, type CloudFault } from './cloud/index.js';
import { BridgeError, bridgeSocketPath, DEVICE_EVENT_KINDS, type DeviceEventKind } from './bridge-client.js';
import { dataDirOf, parseCommandLine, UsageError, type Values } from './cli-args.js';
import { portUnavailable } from './free-port.js';
import { SimulatedPrinter, type PopCheckReport } from './printer.js';
import { claimRunFile, isRunning, readRunState, runFilePath, type RunState } from './run-file.js';
import { configureDevice, popCheckInterval, startSimDevice, type SimDevice } from './sim-device.js';
import { findScenario, runScenario, SCENARIOS, type ScenarioResult } from './scenarios/index.js';
import type { AuthorizationServerShape } from './cloud/authorization-server.js';

const HELP = `Usage: npm run sim -- <command> [options]

Commands:
  start [--devices N] [--shape generic|microsoft|google] [--auto-approve] [--minute-ms MS]
        Boot the simulated cloud (authorization server, SMTP, Dovecot POP3 behind a fault proxy,
        control endpoint) and N devices (default 1), each with its own data directory and port.
        First boot registers the lab and fills the SMTP and E-mail Status pages. The printers check
        POP at the page's Check Interval, one "minute" being MS milliseconds (default 1000).
        --auto-approve: the simulated mailbox owner approves every device code by itself.
  scan --to a@x,b@y [--device I] [--pages N] [--subject S]
        Scan-to-email on printer I (default 1) of a running start: a generated PDF, 1–200 recipients.
  event toner_low|paper_jam|service_call|cleared [--device I] [--detail TEXT]
        Raise a device event (an alert mail goes out if the E-mail Alert page asks for it).
  check [--device I]           POP check now; fetched mail becomes an e-mail-print job.
  status [--device I]          The device's status through the firmware bridge.
  mail [--subject S]           Put a message in the printer's POP mailbox (an e-mail-print job to be).
  fault <target> <fault> [--count N] [--on STEP] [--ms MS] [--account EMAIL]
        Inject a fault into the cloud of a running start:
          provider  slow_down | server_error (500) | timeout | malformed_json | expired_token
                    | access_denied | invalid_grant | password_reset       (--on token|device|any)
                    | sign_in_frequency (AADSTS70043) | insufficient_claims[_strict] (CAE)
                    | clock_skew --ms MS (the provider's Date header that far off)
          smtp      a reply line ("535 5.7.139 …") or a DIGEST code (5.7.3, 5.7.139, 5.7.127,
                    5.5.121 … 5.5.129), 454, drop, slow     (--on auth|mail|rcpt|data, default auth)
          pop       auth ([AUTH]) | sys_temp ([SYS/TEMP]) | challenge | drop | slow   (--on connect|auth for drop)
  fault clear                  Remove every fault.
  fault state                  The cloud's state and faults.
  scenario <name> | --all | --list [--verbose]
        Run a scenario of the catalog (transcript on stdout; exit 1 if an expectation fails).

Options:
  --data-dir DIR   the first device's data directory and the simulator's state (default $MFP_DATA_DIR or ./data)
  -h, --help       this help

Environment (start): PORT (8080; device I gets PORT+I-1), HTTPS_PORT (8443), LAB_AUTH_PORT (9400),
LAB_SMTP_PORT (2525), LAB_POP_PORT (1110), LAB_CONTROL_PORT (9401), MFP_ADMIN_PASSWORD.
`;

function int(values: Values, name: keyof Values, fallback: number, min: number, max: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, not "${String(raw)}"`);
  return n;
}

// --- the running simulator's state file ---------------------------------------------------------

interface LabState {
  adminPassword: string;
  deviceClientSecret: string;
  introspectorSecret: string;
  appOnlyClientSecret?: string;
  /** the first device was set up (name kept from the first npm start) */
  configured: boolean;
  /** devices 2… that were set up */
  configuredPrinters?: number[];
  shape?: AuthorizationServerShape;
}

function printerDir(baseDir: string, n: number): string {
  return n === 1 ? baseDir : path.join(baseDir, 'printers', String(n));
}

function runState(values: Values): RunState {
  const dataDir = dataDirOf(values);
  const state = readRunState(dataDir);
  if (!state) throw new Error(`no running simulator for ${dataDir} (start one with: npm run sim -- start)`);
  if (!isRunning(state)) throw new Error(`the simulator that wrote ${runFilePath(dataDir)} (pid ${state.pid}) is not running any more`);
  if (!state.ready) throw new Error(`the simulator for ${dataDir} (pid ${state.pid}) is still starting; try again once it shows its banner`);
  return state;
}

function printerOf(values: Values): SimulatedPrinter {
  const state = runState(values);
  const n = int(values, 'device', 1, 1, state.devices.length);
  const device = state.devices.find((d) => d.number === n)!;
  return new SimulatedPrinter({ socketPath: device.socketPath, name: `printer ${n}`, log: (line) => process.stdout.write(`${line}\n`) });
}

async function control(values: Values, method: 'GET' | 'POST' | 'DELETE', urlPath: string, body?: unknown): Promise<Record<string, unknown>> {
  const { controlUrl } = runState(values);
  const response = await fetch(new URL(urlPath, controlUrl), {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(String(answer.error ?? `HTTP ${response.status}`));
  return answer;
}

// --- start ---------------------------------------------------------------------------------------

/** The ports `start` listens on, by the environment variable that sets each. */
interface StartPorts {
  device: number;
  deviceHttps: number;
  auth: number;
  smtp: number;
  pop: number;
  control: number;
}

/**
 * Every environment variable `start` and its devices read, checked before anything starts: the
 * ports (each server its own; devices 2… take the ones after PORT and HTTPS_PORT) and what each
 * device reads itself (LOG_LEVEL, MFP_LAB_…), with the device's own rules.
 */
function startEnvironment(env: NodeJS.ProcessEnv, count: number, baseDir: string): { ports: StartPorts; named: [string, number][] } {
  const port = (name: string, fallback: number): number => parsePort(name, env[name], fallback, 1);
  const ports: StartPorts = {
    device: port('PORT', 8080), deviceHttps: port('HTTPS_PORT', 8443),
    auth: port('LAB_AUTH_PORT', 9400), smtp: port('LAB_SMTP_PORT', 2525), pop: port('LAB_POP_PORT', 1110), control: port('LAB_CONTROL_PORT', 9401),
  };
  const named: [string, number][] = [];
  for (const [name, base] of [['PORT', ports.device], ['HTTPS_PORT', ports.deviceHttps]] as const) {
    for (let i = 0; i < count; i++) named.push([i === 0 ? name : `${name}+${i} for device ${i + 1}`, base + i]);
    if (base + count - 1 > 65535) throw new ConfigError(`${name}="${env[name]}" leaves no room for ${count} devices (ports up to ${base + count - 1}; the last is 65535)`);
  }
  named.push(['LAB_AUTH_PORT', ports.auth], ['LAB_SMTP_PORT', ports.smtp], ['LAB_POP_PORT', ports.pop], ['LAB_CONTROL_PORT', ports.control]);
  const seen = new Map<number, string>();
  for (const [name, n] of named) {
    const other = seen.get(n);
    if (other) throw new ConfigError(`${other} and ${name} are both ${n}: each server needs a port of its own`);
    seen.set(n, name);
  }
  readConfig({ ...env, PORT: String(ports.device), HTTPS_PORT: String(ports.deviceHttps), MFP_DATA_DIR: baseDir });
  return { ports, named };
}

async function start(values: Values): Promise<number> {
  const env = process.env;
  const count = int(values, 'devices', 1, 1, 50);
  const minuteMs = int(values, 'minute-ms', 1000, 50, 3_600_000);
  const baseDir = dataDirOf(values);
  const { ports, named } = startEnvironment(env, count, baseDir);
  const stateFile = path.join(baseDir, 'lab.json');
  let state: LabState;
  if (fs.existsSync(stateFile)) {
    state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as LabState;
  } else {
    state = {
      adminPassword: env.MFP_ADMIN_PASSWORD || crypto.randomBytes(9).toString('base64url'),
      deviceClientSecret: crypto.randomBytes(24).toString('base64url'),
      introspectorSecret: crypto.randomBytes(24).toString('base64url'),
      configured: false,
    };
  }
  state.appOnlyClientSecret ??= crypto.randomBytes(24).toString('base64url');
  const savedShape = state.shape ?? 'generic';
  const shapeArg = values.shape ?? savedShape;
  if (!['generic', 'microsoft', 'google'].includes(shapeArg)) throw new UsageError(`--shape must be generic, microsoft or google, not "${shapeArg}"`);
  const shape = shapeArg as AuthorizationServerShape;
  if (state.configured && shape !== savedShape) {
    throw new UsageError(`${baseDir} was set up with a ${savedShape}-shaped lab; use --shape ${savedShape}, another --data-dir, or delete the directory`);
  }

  // From here on this process owns the data directory (a second start stops at the claim).
  fs.mkdirSync(baseDir, { recursive: true, mode: 0o700 });
  const runFile = claimRunFile(baseDir, {
    controlUrl: `http://127.0.0.1:${ports.control}`,
    devices: Array.from({ length: count }, (_, i) => {
      const dataDir = printerDir(baseDir, i + 1);
      return { number: i + 1, url: `http://127.0.0.1:${ports.device + i}`, dataDir, socketPath: bridgeSocketPath(dataDir) };
    }),
  });
  try {
    for (const [name, n] of named) {
      const why = await portUnavailable(n);
      if (why) throw new Error(`port ${n} (${name}) ${why === 'EACCES' ? 'needs privileges this user lacks' : 'is in use by another program'}: stop that program or set ${name.split('+')[0]} to another port`);
    }
  } catch (err) {
    runFile.release();
    throw err;
  }
  state.shape = shape;
  const save = (): void => fs.writeFileSync(stateFile, JSON.stringify(state, null, 2), { mode: 0o600 });
  save();

  const cloud = await startCloud({
    shape,
    deviceInterval: 2,
    ports: { auth: ports.auth, smtp: ports.smtp, pop: ports.pop, control: ports.control },
    secrets: { deviceClientSecret: state.deviceClientSecret, introspectorSecret: state.introspectorSecret, appOnlyClientSecret: state.appOnlyClientSecret },
    // with the fixed secrets and ports above, the device's refresh token still works after a restart
    authStateFile: path.join(baseDir, 'lab-idp.json'),
    control: true,
    autoApprove: values['auto-approve'] === true,
  }).catch((err: unknown) => {
    runFile.release();
    throw err;
  });
  const devices: SimDevice[] = [];
  const printers: SimulatedPrinter[] = [];
  const printerLog = fs.createWriteStream(path.join(baseDir, 'printer.log'), { flags: 'a' });

  let stopping = false;
  /** Stops everything this start started; a second Ctrl+C while it runs exits at once (sim-device kills the devices). */
  async function stop(code: number): Promise<never> {
    if (!stopping) {
      stopping = true;
      if (code === 0) process.stdout.write('\nStopping…\n');
      for (const p of printers) p.stopPopSchedule();
      await Promise.allSettled(devices.map((d) => d.stop()));
      await cloud.close().catch(() => {});
      runFile.release();
      printerLog.end();
      const what = [count > 1 ? `the ${count} devices` : 'the device', 'the lab servers', ...(cloud.popPort !== undefined ? ['Dovecot'] : [])];
      process.stdout.write(`Everything stopped: ${what.slice(0, -1).join(', ')} and ${what.at(-1)!}.\n`);
    }
    process.exit(code);
  }
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    // A first boot costs each device about a second of CPU: booting 50 at once on 2 cores made every
    // one of them miss its boot time-out. A few at a time (one per core), in order.
    const started: PromiseSettledResult<SimDevice>[] = [];
    const next = { i: 0 };
    await Promise.all(Array.from({ length: Math.min(count, os.availableParallelism()) }, async () => {
      for (let i = next.i++; i < count; i = next.i++) {
        started[i] = await startSimDevice({ dataDir: printerDir(baseDir, i + 1), adminPassword: state.adminPassword, port: ports.device + i, httpsPort: ports.deviceHttps + i, cloud })
          .then((value) => ({ status: 'fulfilled', value }) as const, (reason: unknown) => ({ status: 'rejected', reason }) as const);
      }
    }));
    for (const s of started) if (s.status === 'fulfilled') devices.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    for (const [i, device] of devices.entries()) {
      device.child.on('exit', (code) => {
        if (!stopping) {
          process.stderr.write(`The device${count > 1 ? ` ${i + 1}` : ''} stopped (exit code ${code}); see ${device.logFile}\n`);
          void stop(1);
        }
      });
    }
    for (const [i, device] of devices.entries()) {
      const n = i + 1;
      const done = n === 1 ? state.configured : (state.configuredPrinters ?? []).includes(n);
      const panel = await device.panel();
      if (!done) {
        await configureDevice(panel, cloud, device);
        if (n === 1) state.configured = true;
        else state.configuredPrinters = [...(state.configuredPrinters ?? []), n];
        save();
      } else if (shape === 'google') {
        await cloud.auth.addRedirectUri(`${device.url}/oauth/callback`);
      }
      const worthShowing = consoleFilter();
      const printer = new SimulatedPrinter({
        socketPath: device.socketPath,
        name: `printer ${n}`,
        log: (line, check) => {
          printerLog.write(`${new Date().toISOString()} ${line}\n`);
          if (worthShowing(line, check)) process.stdout.write(`${line}\n`);
        },
      });
      printers.push(printer);
      const interval = await popCheckInterval(panel);
      if (interval !== undefined && cloud.popPort !== undefined) {
        void printer.bridge.waitUntilUp(10_000).then((up) => {
          if (up && !stopping) printer.startPopSchedule(interval * minuteMs);
          else if (!stopping) process.stdout.write(`printer ${n}: no firmware bridge at ${device.socketPath}: scan, event and POP checks are not available on this device\n`);
        });
      }
    }
    runFile.update({ ready: true, controlUrl: cloud.controlUrl!, devices: devices.map((d, i) => ({ number: i + 1, url: d.url, dataDir: d.dataDir, socketPath: d.socketPath })) });
  } catch (err) {
    process.stderr.write(`Start-up failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return stop(1);
  }

  process.stdout.write(banner(cloud, devices, state, baseDir, minuteMs));
  return new Promise<number>(() => {}); // runs until Ctrl+C
}

/**
 * Every line goes to printer.log; the console gets what a person needs to see: a POP check only
 * when its outcome changes (not one line per quiet check), and none while POP is not set up yet
 * (no account, no token obtained), which would push the banner's password out of view.
 */
function consoleFilter(): (line: string, check?: PopCheckReport) => boolean {
  let lastCheck = '';
  return (line, check) => {
    if (!check) return true;
    if (check.notSetUp) {
      lastCheck = '';
      return false;
    }
    const routine = check.ok && check.fetched === 0;
    const show = line !== lastCheck && !(routine && lastCheck === '');
    lastCheck = line;
    return show;
  };
}

function banner(cloud: Cloud, devices: SimDevice[], state: LabState, baseDir: string, minuteMs: number): string {
  const first = devices[0]!;
  const account = cloud.account;
  const others = devices.slice(1).map((d, i) => `  Printer ${i + 2}           ${d.url}/   (data ${d.dataDir})\n`).join('');
  return `
  Simulated printer is running (Ctrl+C stops everything).

  Web panel           ${first.url}/
                      https://127.0.0.1:${first.httpsPort}/ (the device's self-signed certificate: your browser warns once)
    user name         admin
    password          ${state.adminPassword}   (the initial one; if you changed it, use yours)
${others ? `${others}                      (same user name and password on every printer)\n` : ''}
  Lab sign-in (simulated identity provider at ${cloud.auth.issuer})
    login             ${account.login}
    password          ${account.password}

  Lab SMTP server     127.0.0.1:${cloud.smtp.port} (XOAUTH2, checks tokens)
  Lab POP3 server     ${cloud.popPort !== undefined ? `127.0.0.1:${cloud.popPort} (Dovecot, XOAUTH2, checks tokens)` : 'not started: install dovecot-core and dovecot-pop3d'}

  Try it: open the panel, log in, go to System Settings › Network Settings › Service Settings › SMTP,
  press Get Token, then OK; open the link shown, enter the code, sign in with the lab login, approve.
  The token line turns to "Obtained" on the SMTP and the E-mail Status pages.
  Device log: ${first.logFile}

  Simulator           control endpoint ${cloud.controlUrl} (GET /state, POST /faults, DELETE /faults)
                      one simulated minute = ${minuteMs} ms; printer log ${path.join(baseDir, 'printer.log')}
    in another shell  npm run sim -- scan --to someone@example.com
                      npm run sim -- fault smtp 5.7.139        npm run sim -- fault clear
`;
}

// --- the other commands --------------------------------------------------------------------------

async function scenarioCommand(values: Values, names: string[]): Promise<number> {
  if (values.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(22)} ${s.seed ? `[${s.seed}] ` : ''}${s.title}\n`);
    return 0;
  }
  let chosen = values.all ? SCENARIOS : names.map((name) => {
    const s = findScenario(name);
    if (!s) throw new UsageError(`unknown scenario "${name}"; npm run sim -- scenario --list shows them`);
    return s;
  });
  if (chosen.length === 0) throw new UsageError('scenario: name one, or use --all or --list');
  chosen = [...new Set(chosen)];
  const results: ScenarioResult[] = [];
  for (const s of chosen) {
    const result = await runScenario(s, { live: (line) => process.stdout.write(`${line}\n`) });
    results.push(result);
    process.stdout.write('\n');
  }
  if (results.length > 1) {
    process.stdout.write('Summary\n');
    for (const r of results) process.stdout.write(`  ${r.status.toUpperCase().padEnd(8)} ${r.name.padEnd(22)} ${(r.ms / 1000).toFixed(1).padStart(5)} s${r.failedStep ? `  at step ${r.failedStep}` : ''}${r.skipReason ? `  (${r.skipReason})` : ''}\n`);
  }
  return results.some((r) => r.status === 'failed') ? 1 : 0;
}

async function faultCommand(values: Values, args: string[]): Promise<number> {
  const [target, ...rest] = args;
  if (!target) throw new UsageError('fault: give a target (provider, smtp, pop), "clear" or "state"');
  if (target === 'clear') {
    await control(values, 'DELETE', '/faults');
    process.stdout.write('All faults cleared.\n');
    return 0;
  }
  if (target === 'state') {
    process.stdout.write(`${JSON.stringify(await control(values, 'GET', '/state'), null, 2)}\n`);
    return 0;
  }
  const spec = rest.join(' ');
  if (!spec) throw new UsageError(`fault ${target}: say which fault (npm run sim -- --help lists them)`);
  let fault: CloudFault;
  try {
    fault = parseFault(target, spec, {
      ...(values.count !== undefined ? { count: int(values, 'count', 1, 1, 1_000_000) } : {}),
      ...(values.on !== undefined ? { on: values.on } : {}),
      ...(values.ms !== undefined ? { ms: int(values, 'ms', 1000, 0, 600_000) } : {}),
      ...(values.account !== undefined ? { account: values.account } : {}),
    });
  } catch (err) {
    if (err instanceof FaultSyntaxError) throw new UsageError(err.message);
    throw err;
  }
  const answer = await control(values, 'POST', '/faults', fault);
  process.stdout.write(`Fault set: ${String(answer.applied)}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const { values, command, rest } = parseCommandLine(argv);
  if (values.help || command === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  switch (command) {
    case undefined:
      throw new UsageError('no command given');
    case 'start':
      return start(values);
    case 'scenario':
      return scenarioCommand(values, rest);
    case 'fault':
      return faultCommand(values, rest);
    case 'scan': {
      const to = (values.to ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      if (to.length < 1 || to.length > 200) throw new UsageError('scan: --to takes 1 to 200 comma-separated addresses');
      const printer = printerOf(values);
      await printer.scan({ to, pages: int(values, 'pages', 1, 1, 500), ...(values.subject ? { subject: values.subject } : {}) });
      return 0;
    }
    case 'event': {
      const kind = rest[0];
      if (!kind || !DEVICE_EVENT_KINDS.includes(kind as DeviceEventKind)) throw new UsageError(`event: one of ${DEVICE_EVENT_KINDS.join(', ')}`);
      await printerOf(values).event(kind as DeviceEventKind, values.detail);
      return 0;
    }
    case 'check':
      await printerOf(values).checkPop();
      return 0;
    case 'status':
      process.stdout.write(`${JSON.stringify(await printerOf(values).status(), null, 2)}\n`);
      return 0;
    case 'mail': {
      const answer = await control(values, 'POST', '/mailbox', { subject: values.subject ?? 'Please print' });
      process.stdout.write(`Delivered to the printer's mailbox (UIDL ${String(answer.uidl)}).\n`);
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** Runs the CLI and exits with its code (2 for a usage error or a bad environment variable, with a message). */
export function runCli(argv: string[]): void {
  main(argv).then((code) => process.exit(code), (err: unknown) => {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`sim: ${err.message}\nRun "npm run sim -- --help" for the ${err instanceof ConfigError ? 'environment variables' : 'commands'}.\n`);
      process.exit(2);
    }
    process.stderr.write(`sim: ${err instanceof BridgeError || err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}

// Run when executed (not when imported by a test or by main.ts).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) runCli(process.argv.slice(2));

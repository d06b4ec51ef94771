/**
 * The POP checker's schedule, on a real device's services and a real Dovecot (USER/PASS, so no token
 * is needed). The Check Interval's unit is shortened to 100 ms here: everything else is the product's
 * code path — settings saved through the panel, re-read by the checker on its own.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import { dovecotAvailable, DOVECOT_BIN, startDovecotLab } from '../../../firmware-sim/cloud/pop3-server.js';
import type { PanelClient } from '../../../firmware-sim/panel-client.js';
import { PopChecker, type PopCheckerOptions } from '../../../server/mail/pop-checker.js';
import { bootDevice, type TestDevice } from '../../helpers/device.js';

const PLAIN = { user: 'legacy@lab.example', password: 'legacy-password-0042' };
const MINUTE_MS = 100;
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Run {
  trigger: string;
  startedAt: number;
  durationMs: number;
  ok: boolean;
  problem?: string;
  detail?: string;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(10);
  }
}

/** A checker on the device's own database, settings and token store, recording each run it logs. */
function checkerOn(t: TestContext, device: TestDevice, options: Partial<PopCheckerOptions> = {}): { checker: PopChecker; runs: Run[] } {
  const { db, settings, accounts, tokens } = device.device.services;
  const runs: Run[] = [];
  const record = (entry: object) => {
    const run = (entry as { popCheck?: Run }).popCheck;
    if (run) runs.push(run);
  };
  const checker = new PopChecker({ db, settings, accounts, tokens, log: { info: record, warn: record, error: () => {} }, minuteMs: MINUTE_MS, tickMs: 10, ...options });
  t.after(() => checker.close());
  return { checker, runs };
}

function savePop(panel: PanelClient, port: number, interval: number) {
  return panel.saveSettings('pop', {
    server: '127.0.0.1', port: String(port), checkInterval: String(interval), ssl: 'none', authMethod: 'plain', userName: PLAIN.user, password: PLAIN.password,
  });
}

describe('POP checker schedule', {
  skip: dovecotAvailable() ? false : `${DOVECOT_BIN} is not installed: Dovecot tests skipped`,
}, () => {
  test('idle until POP is saved; then every Check Interval; a changed interval takes effect without a restart; runs never overlap; close() stops it', async (t) => {
    const pop = await startDovecotLab({ introspection: { url: 'http://unused:unused-secret@127.0.0.1:9/token/introspection' }, passwords: { [PLAIN.user]: PLAIN.password } });
    t.after(() => pop.close());
    const device = await bootDevice();
    t.after(() => device.close());
    const panel = await device.panel();
    const { checker, runs } = checkerOn(t, device);
    checker.start();

    await delay(300);
    assert.equal(runs.length, 0, 'nothing runs while POP is not configured');
    assert.equal(checker.nextCheckAt(), null);

    // Check Interval 5 (= 500 ms here): the first check one interval after the checker saw the settings.
    assert.equal((await savePop(panel, pop.port, 5)).status, 200);
    const savedAt = Date.now();
    assert.ok(checker.nextCheckAt() !== null);
    await waitFor('the first scheduled check', () => runs.length >= 1);
    assert.ok(runs[0]!.startedAt - savedAt >= 5 * MINUTE_MS - 50, `first check after one interval (${runs[0]!.startedAt - savedAt} ms)`);
    assert.equal(runs[0]!.ok, true);
    assert.equal(runs[0]!.trigger, 'schedule');
    await delay(1_200);
    const atFive = runs.length;
    assert.ok(atFive >= 2 && atFive <= 4, `about one check per 500 ms (${atFive} in ~1.7 s)`);

    // Save Check Interval 1 (= 100 ms): picked up at once.
    await savePop(panel, pop.port, 1);
    const before = runs.length;
    await delay(800);
    assert.ok(runs.length - before >= 4, `one check per 100 ms after the Save (${runs.length - before} in 800 ms)`);

    // Check Now and Connection Test while scheduled checks run: nothing overlaps.
    await Promise.all([checker.checkNow(), checker.testConnection(), checker.checkNow()]);
    const sorted = [...runs].sort((a, b) => a.startedAt - b.startedAt);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      assert.ok(sorted[i]!.startedAt >= prev.startedAt + prev.durationMs, `run ${i} started before run ${i - 1} ended`);
    }
    assert.equal(runs.filter((r) => r.trigger === 'manual').length, 3);

    // Back to a long interval: the schedule waits again.
    await savePop(panel, pop.port, 60);
    await delay(50);
    const settled = runs.length;
    await delay(500);
    assert.equal(runs.length, settled, 'no check within the new 6 s interval');

    await savePop(panel, pop.port, 1);
    await checker.close();
    const closedAt = runs.length;
    await delay(400);
    assert.equal(runs.length, closedAt, 'no check after close()');
    await assert.rejects(checker.checkNow(), /stopped/);
    assert.equal(checker.nextCheckAt(), null);
    // Every check succeeded, but one close() may have cut short.
    const failed = runs.filter((r) => !r.ok);
    assert.ok(failed.length <= 1 && failed.every((r) => r.detail?.startsWith('stopped')), JSON.stringify(failed));
  });

  test('a silent server: the time-out is transient and close() does not wait for it', async (t) => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket); // accepts, never greets
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const port = (silent.address() as net.AddressInfo).port;
    const device = await bootDevice();
    t.after(() => device.close());
    await savePop(await device.panel(), port, 60);

    const quick = checkerOn(t, device, { timeoutMs: 200 });
    const outcome = await quick.checker.checkNow();
    assert.equal(outcome.ok, false);
    assert.equal(outcome.problem?.code, 'timeout');
    assert.equal(outcome.problem?.transient, true);
    assert.deepEqual(outcome.steps.map((s) => `${s.step}:${s.status}`), ['connect:failed', 'tls:not_used', 'greeting:not_reached', 'capa:not_reached', 'auth:not_reached', 'fetch:not_reached']);

    const slow = checkerOn(t, device, { timeoutMs: 30_000, closeGraceMs: 300 });
    const pending = slow.checker.checkNow();
    pending.catch(() => {});
    await delay(100);
    const started = Date.now();
    await slow.checker.close();
    assert.ok(Date.now() - started < 1_000, 'close() returned within its grace period');
  });
});

/**
 * The whole scenario catalog (firmware-sim/scenarios), one test per scenario: each boots its own
 * simulated cloud and devices (child processes, as `npm run device`), and must pass or be skipped
 * for a stated reason (Dovecot not installed). A failure prints the scenario's transcript.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SCENARIOS, runScenario } from '../../firmware-sim/scenarios/index.js';

describe('scenario catalog', () => {
  for (const scenario of SCENARIOS) {
    test(scenario.name, { timeout: (scenario.timeoutMs ?? 60_000) + 15_000 }, async (t) => {
      const result = await runScenario(scenario);
      if (result.status === 'skipped') {
        t.skip(result.skipReason);
        return;
      }
      assert.equal(result.status, 'passed', `${scenario.name} failed at step ${result.failedStep}: ${result.error}\n\n${result.transcript.join('\n')}`);
      t.diagnostic(`${scenario.name}: ${(result.ms / 1000).toFixed(1)} s`);
    });
  }
});

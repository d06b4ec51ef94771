/** The device as it runs on the printer: `npm run device` (compiled JavaScript, no lab code). */
import { ConfigError, readConfig, type DeviceConfig } from './config.js';
import { startDevice } from './device.js';
import { collectWhenIdle } from './idle-memory.js';
import { translator } from './i18n/index.js';
import { installFetchGlobals } from './oauth/provider-http.js';

const t = translator('en');
// Before any OAuth request: keeps undici (10 MB) out of the device process (see provider-http.ts).
installFetchGlobals();

let config: DeviceConfig;
try {
  config = readConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exit(2);
}
const device = await startDevice(config);

if (device.generatedAdminPassword) {
  // Shown once, at first boot, on the console only (not in the log); only its hash is stored.
  process.stdout.write(`\n  ${t('console.firstBoot', { password: device.generatedAdminPassword })}\n\n`);
}
process.stdout.write(`  ${t('console.panel', { https: device.httpsUrl, http: device.url })}\n`);
const stopIdleCollection = collectWhenIdle({ onCollect: (before, after) => device.app.log.debug({ heapBeforeMb: before / 2 ** 20, heapAfterMb: after / 2 ** 20 }, 'idle: memory collected') });

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    stopIdleCollection();
    device.close().then(
      () => process.exit(0),
      (err: unknown) => {
        device.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

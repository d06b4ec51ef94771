/** The device as it runs on the printer: `npm run device` (compiled JavaScript, no lab code). */
import { readConfig } from './config.js';
import { startDevice } from './device.js';

const config = readConfig();
const device = await startDevice(config);

if (device.generatedAdminPassword) {
  // Shown once, at first boot, on the console only (not in the log); only its hash is stored.
  process.stdout.write(
    `\n  First boot: the administrator password is  ${device.generatedAdminPassword}\n  (user name: admin). Change it under Security Settings › Administrator Password.\n\n`,
  );
}
process.stdout.write(`  Web panel: ${device.url}/\n`);

let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    device.close().then(
      () => process.exit(0),
      (err: unknown) => {
        device.app.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  });
}

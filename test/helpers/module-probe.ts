/**
 * Loaded into a device process by a test (`node --import`): on SIGUSR2 it writes the Node built-in
 * modules loaded so far to $MFP_MODULE_PROBE_FILE, so the test can tell what the device pulled in.
 */
import fs from 'node:fs';

process.on('SIGUSR2', () => {
  const loaded = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
  fs.writeFileSync(process.env.MFP_MODULE_PROBE_FILE!, JSON.stringify(loaded));
});

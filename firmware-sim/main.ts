/**
 * The former `npm start` entry point, kept for anyone who runs dist/firmware-sim/main.js directly:
 * it is the simulator CLI's `start` command (firmware-sim/cli.ts), which boots the lab, the device as
 * a child process and registers the lab through the panel's forms at first boot.
 */
import { runCli } from './cli.js';

runCli(['start', ...process.argv.slice(2)]);

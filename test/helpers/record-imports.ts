/**
 * `node --import` this file to record, in the file $RECORD_IMPORTS_FILE, every bare package name the
 * process resolves (one a line): proof of which packages a device really loaded.
 */
import { register } from 'node:module';

register('./record-imports-hooks.js', import.meta.url, { data: { file: process.env.RECORD_IMPORTS_FILE } });

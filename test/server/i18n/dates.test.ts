/**
 * Moments on the panel read exactly as each language's own locale writes them (what Intl says, in
 * the test process), though the device writes them without Intl (8 MB of ICU data it cannot spare).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { momentWriter } from '../../../server/i18n/dates.js';

test('date, time and both together as Intl writes them, in every language, through a year and a day', () => {
  if (new Date(0).getTimezoneOffset() !== 0) return; // the zone is named by offset elsewhere; Intl names it otherwise
  for (const lang of ['en', 'ja', 'sv']) {
    const writer = momentWriter(lang);
    const intl = {
      dateTime: new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'long' }),
      time: new Intl.DateTimeFormat(lang, { timeStyle: 'long' }),
      date: new Intl.DateTimeFormat(lang, { dateStyle: 'medium' }),
    };
    for (let month = 0; month < 12; month++) {
      for (const [day, hour, minute, second] of [[1, 0, 5, 9], [9, 11, 59, 0], [28, 12, 0, 30], [15, 13, 7, 45], [3, 23, 30, 59]] as const) {
        const at = Date.UTC(2026, month, day, hour, minute, second);
        for (const style of ['dateTime', 'time', 'date'] as const) assert.equal(writer[style](at), intl[style].format(at), `${lang} ${style} ${new Date(at).toISOString()}`);
      }
    }
  }
});

test('away from UTC the zone is named by its offset', () => {
  const writer = momentWriter('en');
  const text = writer.time(Date.UTC(2026, 0, 1, 12));
  const offset = -new Date(Date.UTC(2026, 0, 1, 12)).getTimezoneOffset();
  assert.match(text, offset === 0 ? / UTC$/ : /UTC[+-]\d{1,2}(:\d\d)?$/);
});

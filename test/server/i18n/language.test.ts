import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localeFor, pickLanguage, type Language } from '../../../server/i18n/index.js';

const device = (lang: Language) => () => lang;

test('the visitor\'s own choice (cookie) wins over the browser\'s languages and the device default', () => {
  assert.equal(pickLanguage('sv', 'ja-JP,ja;q=0.9', device('en')), 'sv');
});

test('a choice the panel does not have is ignored, not trusted', () => {
  assert.equal(pickLanguage('xx', undefined, device('ja')), 'ja');
  assert.equal(pickLanguage('__proto__', 'sv', device('en')), 'sv');
});

test('Accept-Language: the best-ranked language the panel speaks, matched on the primary subtag', () => {
  assert.equal(pickLanguage(undefined, 'sv-SE,sv;q=0.9,en-US;q=0.8,en;q=0.7', device('en')), 'sv');
  assert.equal(pickLanguage(undefined, 'fr-FR,fr;q=0.9,ja;q=0.5,en;q=0.4', device('sv')), 'ja');
  assert.equal(pickLanguage(undefined, 'en;q=0.2, ja-JP;q=0.8', device('sv')), 'ja');
});

test('a browser asking for none of the panel\'s languages gets the device default', () => {
  assert.equal(pickLanguage(undefined, 'fr-FR,de;q=0.8', device('ja')), 'ja');
  assert.equal(pickLanguage(undefined, undefined, device('sv')), 'sv');
  assert.equal(pickLanguage(undefined, '', device('sv')), 'sv');
});

test('a moment is written in the language, with the device\'s time zone named (UTC, or its offset)', () => {
  const at = Date.UTC(2026, 11, 3, 6, 7, 45);
  const offset = -new Date(at).getTimezoneOffset();
  const zone = offset === 0 ? 'UTC' : `UTC${offset > 0 ? '+' : '-'}${Math.trunc(Math.abs(offset) / 60)}`;
  for (const lang of ['en', 'ja', 'sv'] as const) {
    const text = localeFor(lang).dateTime(at);
    assert.ok(text.includes(zone), `${lang}: "${text}" names the zone ${zone}`);
    assert.ok(text.includes('2026'), text);
  }
  assert.match(localeFor('ja').date(at), /^2026\/12\/0\d$/);
  assert.match(localeFor('sv').date(at), /^\d dec\. 2026$/);
  assert.match(localeFor('en').date(at), /^Dec \d, 2026$/);
  assert.notEqual(localeFor('sv').dateTime(at), localeFor('en').dateTime(at));
});

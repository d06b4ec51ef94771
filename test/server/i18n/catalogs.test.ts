/**
 * The message catalogs: every language has exactly the English keys, the same {placeholders}, no empty or
 * untranslated text; every English key is used somewhere, and every key a template names exists.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { en } from '../../../server/i18n/en.js';
import { languages, translator } from '../../../server/i18n/index.js';
import { ja } from '../../../server/i18n/ja.js';
import { sv } from '../../../server/i18n/sv.js';

/** The repository (this file runs from dist/test/server/i18n/). */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

const translations: Record<string, Record<string, string>> = { ja, sv };
const englishKeys = Object.keys(en).sort();

/**
 * Words a translation may keep as they are: product and protocol names, and words that are the same in the
 * language. A value identical to English is accepted only if it is made of these (and placeholders,
 * digits, punctuation) alone.
 */
const KEPT_EVERYWHERE = ['Google Workspace', 'Microsoft 365', 'OAuth 2.0', 'SMTP-AUTH', 'STARTTLS', 'SSL/TLS', 'SMTP', 'POP3', 'IMAP', 'TLS', 'EHLO', 'AUTH', 'Syslog', 'UDP', 'TCP', 'OK', 'ms'];
const KEPT_IN: Record<string, string[]> = { ja: [], sv: ['Token', 'Status', 'Timeout'] };

/** Keys the code builds from a code or a state, so no source names them whole; `template` shows where. */
const BUILT_KEYS = [
  { prefix: 'token.state.', file: 'server/web/token-panel.ts', template: '`token.state.${' },
  { prefix: 'reason.', file: 'server/web/token-panel.ts', template: '`reason.${' },
  { prefix: 'reason.smtp_', file: 'server/mail/smtp-diagnosis.ts', template: '`smtp_${' }, // smtp_<enhanced code>
  { prefix: 'event.', file: 'server/web/routes/event-log.ts', template: '`event.${' },
  { prefix: 'connTest.step.', file: 'server/web/smtp-tools-view.ts', template: '`connTest.step.${' },
  { prefix: 'outbox.status.', file: 'server/web/outbox-view.ts', template: '`outbox.status.${' },
  { prefix: 'outbox.kind.', file: 'server/web/outbox-view.ts', template: '`outbox.kind.${' },
  { prefix: 'popCheck.trigger.', file: 'server/web/pop-outcome-view.ts', template: '`popCheck.trigger.${' },
  // A check's step and problem: imapCheck.<key> for IMAP where POP's words would be wrong, else popCheck.<key>.
  { prefix: 'popCheck.step.', file: 'server/web/pop-outcome-view.ts', template: '`step.${' },
  { prefix: 'imapCheck.step.', file: 'server/web/pop-outcome-view.ts', template: '`step.${' },
  { prefix: 'popCheck.problem.', file: 'server/web/pop-outcome-view.ts', template: '`problem.${' },
  { prefix: 'imapCheck.problem.', file: 'server/web/pop-outcome-view.ts', template: '`problem.${' },
  { prefix: 'popCheck.stepStatus.', file: 'server/web/pop-outcome-view.ts', template: '`popCheck.stepStatus.${' },
  { prefix: 'deviceStatus.kind.', file: 'server/firmware/alerts.ts', template: '`deviceStatus.kind.${' },
];

function placeholders(text: string): string[] {
  return [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? ''))].sort();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** True when the text, placeholders removed, holds no word besides the kept ones. */
function onlyKeptWords(text: string, kept: string[]): boolean {
  let rest = text.replace(/\{\w+\}/g, ' ');
  for (const word of [...kept].sort((a, b) => b.length - a.length)) rest = rest.replace(new RegExp(`(?<![\\p{L}])${escapeRegExp(word)}(?![\\p{L}])`, 'gu'), ' ');
  return !/\p{L}/u.test(rest);
}

/** Source files that could show a message: the device, the simulated printer, templates, browser script. */
function sourceFiles(): { file: string; text: string }[] {
  const found: { file: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const relative = path.posix.join(dir, entry.name);
      if (entry.isDirectory()) walk(relative);
      else if (/\.(ts|eta|js)$/.test(entry.name) && !relative.startsWith('server/i18n/')) found.push({ file: relative, text: fs.readFileSync(path.join(ROOT, relative), 'utf8') });
    }
  };
  for (const dir of ['server', 'views', 'public', 'firmware-sim']) walk(dir);
  return found;
}

function isQuotedIn(text: string, word: string): boolean {
  return [`'${word}'`, `"${word}"`, `\`${word}\``].some((quoted) => text.includes(quoted));
}

/** The English keys that no source names, whole or (for built keys) by prefix and the code after it. */
function unusedKeys(keys: string[], sources: string): string[] {
  return keys.filter((key) => {
    if (isQuotedIn(sources, key)) return false;
    return !BUILT_KEYS.some(({ prefix }) => key.startsWith(prefix) && isQuotedIn(sources, key.slice(prefix.length).replace(/\.remedy$/, '')));
  });
}

/** Every per-language problem, as readable lines (an empty list is a clean catalog). */
function catalogProblems(code: string, catalog: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const key of englishKeys) if (!(key in catalog)) problems.push(`${code}: missing ${key}`);
  for (const key of Object.keys(catalog)) if (!(key in en)) problems.push(`${code}: extra ${key}`);
  for (const [key, text] of Object.entries(catalog)) {
    const english = (en as Record<string, string>)[key];
    if (english === undefined) continue;
    if (text.trim() === '') problems.push(`${code}: ${key} is empty`);
    const want = placeholders(english).join(' ');
    const got = placeholders(text).join(' ');
    if (want !== got) problems.push(`${code}: ${key} has placeholders {${got}}, English has {${want}}`);
    if (text === english && !onlyKeptWords(english, [...KEPT_EVERYWHERE, ...(KEPT_IN[code] ?? [])])) problems.push(`${code}: ${key} is still English: ${english}`);
  }
  return problems;
}

describe('message catalogs', () => {
  test('the language list names each catalog in its own language, English first', () => {
    assert.deepEqual(languages.map((l) => l.code), ['en', ...Object.keys(translations)]);
    assert.deepEqual(languages.map((l) => l.name), ['English', '日本語', 'Svenska']);
  });

  for (const [code, catalog] of Object.entries(translations)) {
    test(`${code}: the English keys exactly, the same placeholders, nothing empty or left in English`, () => {
      assert.deepEqual(catalogProblems(code, catalog), []);
    });
  }

  test('the translator speaks each language and fills placeholders', () => {
    assert.equal(translator('ja')('token.state.awaiting_authorization'), '認可待ち');
    assert.equal(translator('sv')('token.state.not_obtained'), 'Ej hämtad');
    assert.equal(translator('sv')('login.tooMany', { seconds: 30 }), 'För många misslyckade inloggningar. Vänta 30 sekunder och försök igen.');
    assert.equal(translator('xx')('token.get'), 'Get Token');
  });

  test('the printers\' own terms: token states and the SMTP menu path', () => {
    const states = ['not_obtained', 'awaiting_authorization', 'obtained', 'invalid'] as const;
    assert.deepEqual(states.map((s) => ja[`token.state.${s}`]), ['未取得', '認可待ち', '取得済み', '無効']);
    assert.deepEqual(states.map((s) => sv[`token.state.${s}`]), ['Ej hämtad', 'Väntar på auktorisering', 'Hämtad', 'Ogiltig']);
    const menuPath = ['menu.systemSettings', 'menu.networkSettings', 'menu.serviceSettings', 'menu.smtp'] as const;
    assert.equal(menuPath.map((k) => ja[k]).join(' › '), 'システム設定 › ネットワーク設定 › サービス設定 › SMTP');
    assert.equal(menuPath.map((k) => sv[k]).join(' › '), 'Systeminställningar › Nätverksinställningar › Serviceinställning › SMTP');
  });

  const sources = sourceFiles();
  const allSources = sources.map((s) => s.text).join('\n');

  test('every English key is used by a source', () => {
    assert.deepEqual(unusedKeys(englishKeys, allSources), []);
  });

  test('each prefix of built keys is still built where the list says', () => {
    for (const { prefix, file, template } of BUILT_KEYS) {
      const text = sources.find((s) => s.file === file)?.text ?? '';
      assert.ok(text.includes(template), `${file} no longer builds ${prefix}… keys with ${template}`);
    }
  });

  test('every key a template or the browser script names exists', () => {
    const missing: string[] = [];
    for (const { file, text } of sources.filter((s) => /\.(eta|js)$/.test(s.file))) {
      for (const match of text.matchAll(/\bt\(\s*['"]([^'"]+)['"]/g)) if (!(match[1]! in en)) missing.push(`${file}: ${match[1]}`);
    }
    assert.deepEqual(missing, []);
  });

  test('the checks catch a broken catalog', () => {
    const broken = { ...ja } as Record<string, string>;
    delete broken['token.get'];
    broken['token.bogus'] = 'x';
    broken['login.tooMany'] = 'ログインの失敗が多すぎます。';
    broken['common.save'] = '';
    broken['token.deleted'] = en['token.deleted'];
    broken['menu.smtp'] = en['menu.smtp'];
    assert.deepEqual(catalogProblems('ja', broken).sort(), [
      'ja: common.save is empty',
      'ja: extra token.bogus',
      'ja: login.tooMany has placeholders {}, English has {seconds}',
      'ja: missing token.get',
      'ja: token.deleted is still English: The token has been deleted.',
    ]);
    assert.deepEqual(unusedKeys(['token.get', 'reason.smtp_5.5.121', 'reason.no_such_code', 'popCheck.nothing'], allSources), ['reason.no_such_code', 'popCheck.nothing']);
  });
});

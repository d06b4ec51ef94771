import { en } from '../../../server/i18n/en.js';
import type { Scenario, ScenarioContext } from '../framework.js';
import { PAGE_PATHS, textOf } from '../../panel-client.js';

/** The technician presses Check Now on the E-mail Status page; returns the result as the page shows it. */
async function checkNow(ctx: ScenarioContext): Promise<{ text: string; fetched: string[] }> {
  const page = await ctx.first.panel.submit(`${PAGE_PATHS.pop}/check`, { from: 'settings' }, PAGE_PATHS.pop);
  const result = /<section class="settings pop-outcome"[\s\S]*?<\/section>/.exec(page.html)?.[0] ?? '';
  const table = /<table class="grid pop-fetched">([\s\S]*?)<\/table>/.exec(result)?.[1] ?? '';
  const fetched = [...table.matchAll(/<tr><td class="long">[^<]*<\/td><td class="long">([^<]*)<\/td><\/tr>/g)].map((m) => textOf(m[1]!));
  const text = textOf(result.replace(/<details[\s\S]*<\/details>/, ''));
  ctx.note('tech', 'E-mail Status › Check Now');
  ctx.note('panel', `E-mail Status: ${text.slice(0, 300)}`);
  return { text, fetched };
}

export const imapCheck: Scenario = {
  name: 'imap-check',
  title: 'E-mail Status set to IMAP (Dovecot, XOAUTH2 with the shared token): Check Now fetches the new mail, then nothing, then only the next one; a Folder that does not exist is named with its remedy',
  setup: { pop: true },
  steps: [
    {
      title: 'token obtained; the E-mail Status page switched to IMAP on the same mailbox',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        const saved = await ctx.first.panel.changeSettings('pop', { protocol: 'imap', imapPort: String(ctx.cloud.imapPort), folder: 'INBOX' });
        ctx.note('tech', `E-mail Status › Protocol IMAP, IMAP Port Number ${ctx.cloud.imapPort}, Folder INBOX › Save`);
        ctx.expectMatch(textOf(saved.html), en['common.saved'], 'saved');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Obtained', 'E-mail Status page token (shared with SMTP)');
      },
    },
    {
      title: 'two mails arrive: Check Now fetches both and lists them; again: nothing new',
      async run(ctx) {
        await ctx.cloud.deliver({ subject: 'Print the agenda' });
        await ctx.cloud.deliver({ subject: 'Print the minutes' });
        const first = await checkNow(ctx);
        ctx.expectMatch(first.text, en['popCheck.result.fetched'].replace('{count}', '2').replace('{total}', '2'), 'the page says what was fetched');
        ctx.expectEqual(first.fetched.sort(), ['Print the agenda', 'Print the minutes'], 'and lists the two mails');
        ctx.expectMatch(first.text, 'XOAUTH2', 'signed in with XOAUTH2');
        const second = await checkNow(ctx);
        ctx.expectEqual(second.fetched, [], 'nothing fetched the second time');
      },
    },
    {
      title: 'one more mail: fetched once',
      async run(ctx) {
        await ctx.cloud.deliver({ subject: 'Print the invoice' });
        ctx.expectEqual((await checkNow(ctx)).fetched, ['Print the invoice'], 'only the new mail');
        ctx.expectEqual((await checkNow(ctx)).fetched, [], 'and only once');
      },
    },
    {
      title: 'a Folder that does not exist: the page names the problem and the remedy; the token is not blamed',
      async run(ctx) {
        await ctx.first.panel.changeSettings('pop', { folder: 'Scans' });
        ctx.note('tech', 'E-mail Status › Folder Scans › Save');
        const missing = await checkNow(ctx);
        ctx.expectMatch(missing.text, en['popCheck.problem.no_folder'], 'the problem');
        ctx.expectMatch(missing.text, en['popCheck.problem.no_folder.remedy'], 'what to do');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Obtained', 'E-mail Status page token');
        await ctx.first.panel.changeSettings('pop', { folder: 'INBOX' });
        await ctx.cloud.deliver({ subject: 'Print after the fix' });
        ctx.expectEqual((await checkNow(ctx)).fetched, ['Print after the fix'], 'back on INBOX: the new mail');
      },
    },
  ],
};

import type { PanelClient } from '../../panel-client.js';
import type { Scenario } from '../framework.js';
import { LAB_PROVIDER_NAME } from '../../sim-device.js';

/** The admin edits the lab's Google provider: App Publishing Status = Testing, as the Cloud console shows it. */
async function markAsTesting(panel: PanelClient, clientId: string): Promise<void> {
  const list = (await panel.get('/settings/network/oauth-servers')).html;
  const edit = /href="(\/settings\/network\/oauth-servers\/\d+)"/.exec(list)?.[1];
  if (!edit) throw new Error('no provider to edit on the OAuth Authorization Servers page');
  const form = (await panel.get(edit)).html;
  const csrf = /name="_csrf" value="([^"]+)"/.exec(form)?.[1] ?? '';
  const saved = await panel.request('POST', edit, { _csrf: csrf, name: LAB_PROVIDER_NAME, type: 'google', clientId, clientSecret: '', publishingStatus: 'testing' });
  if (saved.status !== 200 || !saved.html.includes('The settings have been saved.')) throw new Error(`saving the provider failed: HTTP ${saved.status}`);
}

export const googleTestingExpiry: Scenario = {
  name: 'google-testing-expiry',
  title: 'a Google app left in "Testing": tokens end 7 days after the sign-in; the panel forecasts it from the first day (notice, badge, the way out), and on day 8 the token is Invalid with Google\'s words',
  setup: { shape: 'google', googleTesting: true },
  timeoutMs: 90_000,
  steps: [
    {
      title: 'token obtained with the provider left "In production": Google\'s answer itself says the token ends in 7 days',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        const smtp = await ctx.panelShows('smtp');
        ctx.expectEqual(smtp.label, 'Obtained', 'SMTP page token');
        ctx.expectMatch(smtp.pageText, /Needs a new sign-in by \d{4}-\d\d-\d\d \d\d:\d\d UTC/, 'SMTP page: the end from refresh_token_expires_in');
        ctx.expect(!smtp.pageText.includes('Publish the app'), 'no word of Testing: the device was not told');
      },
    },
    {
      title: 'the admin sets App Publishing Status = Testing: the page explains the 7 days and the way out; the home page warns',
      async run(ctx) {
        await markAsTesting(ctx.first.panel, ctx.cloud.auth.device.clientId);
        ctx.note('tech', 'OAuth Authorization Servers › Lab IdP › App Publishing Status: Testing › Save');
        const smtp = await ctx.panelShows('smtp');
        ctx.expectMatch(smtp.pageText, 'Publish the app (In production) in the Google Cloud console', 'SMTP page: the way out');
        const notice = await ctx.homeNotice();
        ctx.expectMatch(notice.text, /The SMTP token needs a new sign-in by \d{4}-\d\d-\d\d/, 'the home page forecasts it');
        ctx.expectEqual(notice.badges, ['SMTP'], 'the SMTP menu item carries a badge');
      },
    },
    {
      title: '8 days later: Google has ended the token; the device says so without waiting for mail',
      async run(ctx) {
        await ctx.advanceClock(8);
        await ctx.first.panel.waitForState('smtp', ['invalid'], 15_000);
        await ctx.expectInvalidAndTold('smtp', 'Token has been expired or revoked');
      },
    },
    {
      title: 'Get Token again: Obtained, and the next 7-day end is forecast',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        const notice = await ctx.homeNotice();
        ctx.expectMatch(notice.text, 'The SMTP token needs a new sign-in by', 'no longer Invalid; the next end is forecast');
      },
    },
  ],
};

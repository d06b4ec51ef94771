import type { Scenario } from '../framework.js';

export const popFaults: Scenario = {
  name: 'pop-faults',
  title: 'Dovecot faults through the POP proxy: [SYS/TEMP] is temporary, one [AUTH] is cured by a renewal, a dropped connection is a network problem, a refused renewed token (XOAUTH2 challenge twice) makes the token Invalid',
  setup: { pop: true, bridge: true },
  steps: [
    {
      title: 'token obtained; a message waits in the mailbox',
      async run(ctx) {
        await ctx.obtainToken('smtp');
        await ctx.cloud.deliver({ subject: 'Print me' });
      },
    },
    {
      title: '-ERR [SYS/TEMP] (introspection failing): temporary, the token stays Obtained',
      async run(ctx) {
        await ctx.fault({ target: 'pop', fault: { kind: 'sys_temp', count: 1 } });
        const check = await ctx.popCheck();
        ctx.expectEqual(check.problem?.code, 'temporary', 'problem');
        ctx.expectMatch(check.problem?.message, 'could not check the sign-in right now', 'the message the admin reads');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Obtained', 'E-mail Status page token');
      },
    },
    {
      title: 'one -ERR [AUTH]: the device renews the token, signs in again and fetches',
      async run(ctx) {
        await ctx.fault({ target: 'pop', fault: { kind: 'auth', count: 1 } });
        const check = await ctx.popCheck();
        ctx.expectEqual([check.ok, check.fetched], [true, 1], 'ok and fetched');
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Obtained', 'E-mail Status page token');
      },
    },
    {
      title: 'the connection is dropped: a network problem, the token untouched',
      async run(ctx) {
        await ctx.fault({ target: 'pop', fault: { kind: 'drop', at: 'connect', count: 1 } });
        const check = await ctx.popCheck();
        ctx.expect(check.problem && ['network', 'protocol', 'timeout'].includes(check.problem.code), `a connection problem (${check.problem?.code}: ${check.problem?.message})`);
        ctx.expectEqual((await ctx.panelShows('pop')).label, 'Obtained', 'E-mail Status page token');
      },
    },
    {
      title: 'the XOAUTH2 challenge, also for the renewed token → Invalid with the POP reason',
      async run(ctx) {
        await ctx.fault({ target: 'pop', fault: { kind: 'challenge', count: 2 } });
        const check = await ctx.popCheck();
        ctx.expectEqual(check.problem?.code, 'pop_auth', 'problem');
        const pop = await ctx.panelShows('pop');
        ctx.expectEqual(pop.label, 'Invalid', 'E-mail Status page token');
        ctx.expectMatch(pop.reason, 'The POP3 server refused the token, also after the device renewed it.', 'reason');
        ctx.expectMatch(pop.remedy, 'delete the token and obtain it again', 'what to do');
      },
    },
    {
      title: 'Delete, Get Token: checks work again',
      async run(ctx) {
        await ctx.pressDelete('pop');
        await ctx.obtainToken('pop');
        await ctx.cloud.deliver({ subject: 'Print me too' });
        const check = await ctx.popCheck();
        ctx.expectEqual([check.ok, check.fetched], [true, 1], 'ok and fetched');
      },
    },
  ],
};

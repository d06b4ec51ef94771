import type { MessageKey } from '../i18n/index.js';

/** A group has items, a page has an href; the tree as the printer's menu names it. */
export type MenuItem = { key: MessageKey; href: string } | { key: MessageKey; items: readonly MenuItem[] };

export const menuTree: readonly MenuItem[] = [
  { key: 'menu.home', href: '/' },
  { key: 'menu.systemSettings', items: [
    { key: 'menu.networkSettings', items: [
      { key: 'menu.oauthServers', href: '/settings/network/oauth-servers' },
      { key: 'menu.serviceSettings', items: [{ key: 'menu.smtp', href: '/settings/network/smtp' }] },
    ] },
    { key: 'menu.systemControl', items: [
      { key: 'menu.emailAlertStatus', items: [
        { key: 'menu.emailAlert', href: '/settings/system/email-alert' },
        { key: 'menu.emailStatus', href: '/settings/system/email-status' },
        { key: 'menu.emailInbox', href: '/settings/system/email-status/inbox' },
      ] },
      { key: 'menu.eventLog', href: '/settings/system/token-events' },
      { key: 'menu.tokenCare', href: '/settings/system/token-care' },
    ] },
    { key: 'menu.security', items: [
      { key: 'menu.password', href: '/settings/security/password' },
      { key: 'menu.tls', href: '/settings/security/tls' },
    ] },
  ] },
];

const hrefs: string[] = [];
const collect = (items: readonly MenuItem[]): void => items.forEach((item) => ('href' in item ? hrefs.push(item.href) : collect(item.items)));
collect(menuTree);

/**
 * The menu item a path belongs to: the page itself, or the page a sub-page belongs to (Edit server, a
 * confirmation): the longest href the path is, or starts with.
 */
export function currentMenuHref(path: string): string | undefined {
  return hrefs.filter((href) => path === href || (href !== '/' && path.startsWith(`${href}/`))).sort((a, b) => b.length - a.length)[0];
}

/** The menu path down to a page, as its breadcrumb shows it (System Settings › … › SMTP). */
export function menuTrail(href: string, items: readonly MenuItem[] = menuTree): MessageKey[] | undefined {
  for (const item of items) {
    if ('href' in item) {
      if (item.href === href) return [item.key];
    } else {
      const below = menuTrail(href, item.items);
      if (below) return [item.key, ...below];
    }
  }
  return undefined;
}

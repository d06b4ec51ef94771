/**
 * The panel's forms as a visitor finds them: the pages reachable by links from the home page, and on
 * each the POST forms with their fields (names and the values the page filled in). The fuzz run and
 * the form-shape tests post to what is found here, so a form added later is covered without a list.
 */
import type { PanelClient } from '../panel-client.js';

export interface PanelForm {
  /** The posted path, e.g. /settings/network/smtp/token/get. */
  action: string;
  /** The page it was found on. */
  page: string;
  /** Field name → the value the page gave it ('' for empty inputs and unselected lists). */
  fields: Record<string, string>;
  /**
   * What each submit button adds (a browser sends only the button pressed): {confirm: 'ok'} for a
   * named one, {} for one without a name.
   */
  submitters: Record<string, string>[];
}

const decode = (text: string) => text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code))).replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const attribute = (tag: string, name: string) => {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return match ? decode(match[1]!) : undefined;
};

/** The POST forms of one page. */
export function formsOf(html: string, page: string): PanelForm[] {
  const forms: PanelForm[] = [];
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
    if ((attribute(match[1]!, 'method') ?? 'get').toLowerCase() !== 'post') continue;
    const fields: Record<string, string> = {};
    const submitters: Record<string, string>[] = [];
    const body = match[2]!;
    for (const input of body.matchAll(/<input\b[^>]*>/g)) {
      const name = attribute(input[0], 'name');
      if (name && !(name in fields)) fields[name] = attribute(input[0], 'value') ?? '';
    }
    for (const button of body.matchAll(/<button\b[^>]*>/g)) {
      if ((attribute(button[0], 'type') ?? 'submit') !== 'submit') continue;
      const name = attribute(button[0], 'name');
      submitters.push(name ? { [name]: attribute(button[0], 'value') ?? '' } : {});
    }
    for (const select of body.matchAll(/<select\b([^>]*)>([\s\S]*?)<\/select>/g)) {
      const name = attribute(select[1]!, 'name');
      const selected = /<option\b[^>]*value="([^"]*)"[^>]*\sselected/.exec(select[2]!);
      if (name) fields[name] = selected ? decode(selected[1]!) : '';
    }
    for (const area of body.matchAll(/<textarea\b([^>]*)>([\s\S]*?)<\/textarea>/g)) {
      const name = attribute(area[1]!, 'name');
      if (name) fields[name] = decode(area[2]!);
    }
    forms.push({ action: attribute(match[1]!, 'action') ?? page, page, fields, submitters: submitters.length ? submitters : [{}] });
  }
  return forms;
}

/** Visits the panel's pages from `start` by their links (not /logout, static files or the API) and lists every POST form, each action once. */
export async function discoverForms(panel: PanelClient, start = '/', maxPages = 60): Promise<PanelForm[]> {
  const seen = new Set<string>([start]);
  const queue = [start];
  const forms = new Map<string, PanelForm>();
  while (queue.length && seen.size <= maxPages) {
    const path = queue.shift()!;
    const page = await panel.get(path);
    if (page.status !== 200 || page.url !== path) continue;
    for (const form of formsOf(page.html, path)) if (!forms.has(form.action)) forms.set(form.action, form);
    for (const link of page.html.matchAll(/<a\b[^>]*\shref="(\/[^"#?]*)/g)) {
      const target = decode(link[1]!);
      if (seen.has(target) || /^\/(static|api)\/|^\/logout$|^\/\//.test(target)) continue;
      seen.add(target);
      queue.push(target);
    }
  }
  return [...forms.values()];
}

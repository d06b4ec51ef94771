import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PopCheckOutcome } from '../mail/pop-checker.js';
import type { ConnectionTestResult, SendTestResult } from '../mail/sender.js';
import type { Services } from '../services.js';
import { outcomeView, type OutcomeView } from './pop-outcome-view.js';
import type { Locale } from '../i18n/index.js';
import { connectionTestView, sendTestView, type SmtpToolView } from './smtp-tools-view.js';

/**
 * The result of a button that does something (Send Test E-mail, Connection Test, Check Now), kept in
 * the admin's session between the POST and the page it redirects to (post/redirect/get): reloading
 * that page shows it no more and sends nothing again. Kept as data (codes, replies, masked
 * transcripts), never as translated text or secrets; the page translates it when it shows it.
 */
export type ToolResult =
  | { kind: 'sendTest'; result: SendTestResult; testTo: string }
  | { kind: 'connectionTest'; result: ConnectionTestResult }
  | { kind: 'popCheck' | 'popTest'; outcome: PopCheckOutcome };

/** The page a result belongs to (its path) and the element of that page that shows it. */
export interface ToolResultPlace {
  path: string;
  anchor: string;
}

declare module 'fastify' {
  interface Session {
    toolResult?: ToolResult & { path: string; at: number };
  }
}

/** Keeps the result for the page at `place` and sends the browser there, scrolled to the result. */
export function redirectToResult(request: FastifyRequest, reply: FastifyReply, place: ToolResultPlace, result: ToolResult): FastifyReply {
  request.session.toolResult = { ...result, path: place.path, at: Date.now() };
  return reply.redirect(`${place.path}#${place.anchor}`, 303);
}

/** A result not picked up by then (the redirect was not followed) is not shown later, out of context. */
const FRESH_MS = 2 * 60 * 1000;

/** The result kept for this page, once: the next page shown no longer has it. */
export function takeToolResult(request: FastifyRequest, path: string): ToolResult | undefined {
  const kept = request.session?.toolResult;
  if (!kept) return undefined;
  request.session.toolResult = undefined;
  if (kept.path !== path || Date.now() - kept.at > FRESH_MS) return undefined;
  const { path: _path, at: _at, ...result } = kept;
  return result;
}

/** What a page's template gets for a kept result: the SMTP tools' result (and the address typed) or a POP outcome. */
export function toolResultView(services: Services, result: ToolResult | undefined, locale: Locale): { smtpResult?: SmtpToolView; testTo?: string; popResult?: OutcomeView } {
  switch (result?.kind) {
    case 'sendTest':
      return { smtpResult: sendTestView(services, result.result, locale), testTo: result.testTo };
    case 'connectionTest':
      return { smtpResult: connectionTestView(services, result.result, locale) };
    case 'popCheck':
      return { popResult: outcomeView(services, result.outcome, locale.t('popCheck.checkResult'), locale) };
    case 'popTest':
      return { popResult: outcomeView(services, result.outcome, locale.t('popCheck.testResult'), locale) };
    default:
      return {};
  }
}

import type { Locale } from '../i18n/index.js';
import type { Services } from '../services.js';
import { conditionText } from './alerts.js';
import { DeviceStatus } from './device-status.js';

export interface DeviceStatusView {
  ready: boolean;
  conditions: { kind: string; label: string; detail: string | null; since: string }[];
}

/** The home page's Device status: "Ready", or each active condition with its time. */
export function deviceStatusView(services: Services, locale: Locale): DeviceStatusView {
  const active = new DeviceStatus(services.db).active();
  return {
    ready: active.length === 0,
    conditions: active.map((event) => ({ kind: event.kind, label: conditionText(event.kind, locale.t), detail: event.detail, since: locale.dateTime(event.at) })),
  };
}

import type { Services } from '../services.js';
import { conditionText } from './alerts.js';
import { DeviceStatus } from './device-status.js';

export interface DeviceStatusView {
  ready: boolean;
  conditions: { kind: string; label: string; detail: string | null; since: string }[];
}

const time = (ms: number) => `${new Date(ms).toISOString().replace('T', ' ').slice(0, 19)} UTC`;

/** The home page's Device status: "Ready", or each active condition with its time. */
export function deviceStatusView(services: Services): DeviceStatusView {
  const active = new DeviceStatus(services.db).active();
  return {
    ready: active.length === 0,
    conditions: active.map((event) => ({ kind: event.kind, label: conditionText(event.kind), detail: event.detail, since: time(event.at) })),
  };
}

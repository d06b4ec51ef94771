/**
 * The panel's eta engine. eta works out a template's file path (path.join, path.relative and a JSON
 * cache key) on every render and every include: 6 % of a page's CPU. The views ship with the firmware
 * and do not move while the device runs, so each template is resolved once per file that includes it
 * (eta's own checks, the views directory included, still run that once).
 */
import { Eta } from 'eta';
import { viewsDir } from './paths.js';

export function templateEngine(): Eta {
  const eta = new Eta({ views: viewsDir, cache: true, autoEscape: true });
  const resolve = eta.resolvePath;
  if (!resolve) return eta;
  const resolved = new Map<string, string>();
  eta.resolvePath = function (template, options) {
    const key = `${options?.filepath ?? ''}\n${template}`;
    let file = resolved.get(key);
    if (file === undefined) {
      file = resolve.call(this, template, options);
      resolved.set(key, file);
    }
    return file;
  };
  return eta;
}

import type { TokenPanel } from './token-panel.js';
import { esc } from './render.js';

/**
 * The verification URL as a QR code, drawn on the device (inline SVG, no network), so a phone can
 * open the sign-in page. uqr is loaded on first use only: an idle device never needs it.
 */
let cached: { url: string; svg: string } | undefined;

export async function qrCodeSvg(url: string, label: string): Promise<string> {
  if (cached?.url !== url) {
    const { renderSVG } = await import('uqr');
    cached = { url, svg: renderSVG(url, { ecc: 'M', border: 2, pixelSize: 4 }) };
  }
  // The SVG is uqr's own markup (rectangles and paths); only the label comes from us, escaped.
  return cached.svg.replace('<svg ', `<svg class="qr-code" role="img" aria-label="${esc(label)}" `);
}

/** The QR code of the page's pending device-code sign-in, when its URL may be a link at all. */
export async function verificationQrCode(token: TokenPanel, label: string): Promise<string | null> {
  const link = token.pending?.kind === 'device_code' ? token.pending.link : null;
  return link ? qrCodeSvg(link, label) : null;
}

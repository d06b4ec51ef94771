import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const KEY_FILE = 'device.key';
const VERSION = 'v1';

/**
 * What a sealed column holds once its secret was sealed under a device key this device no longer has
 * (see device-key-check.ts): the secret itself is archived, and reading the column gives "no secret".
 */
export const RETIRED_SECRET = 'retired';

/**
 * Encrypts secrets at rest (tokens, client secrets) with AES-256-GCM under a per-device key.
 * The key lives in its own 0600 file so that a copied database alone reveals nothing.
 */
export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('device key must be 32 bytes');
    this.#key = key;
  }

  /**
   * Reads `<dataDir>/device.key`, or makes a new key when there is none. A new key cannot open what an
   * old one sealed: the database's key check value (device-key-check.ts) tells the two cases apart.
   */
  static openOrCreate(dataDir: string): SecretBox {
    const file = path.join(dataDir, KEY_FILE);
    let key: Buffer;
    try {
      key = fs.readFileSync(file);
      // A key file left wider by a copy or an older version is tightened, like the database.
      fs.chmodSync(file, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      key = crypto.randomBytes(32);
      // 'wx' refuses to overwrite a key another process just wrote.
      fs.writeFileSync(file, key, { mode: 0o600, flag: 'wx' });
      fs.chmodSync(file, 0o600);
    }
    return new SecretBox(key);
  }

  /** A value that identifies this key without revealing it, stored in the database next to what it sealed. */
  checkValue(): string {
    return this.derive('device-key-check');
  }

  /** Whether a sealed value was sealed with this key (and is intact). */
  canOpen(sealed: string): boolean {
    try {
      this.open(sealed);
      return true;
    } catch {
      return false;
    }
  }

  seal(plaintext: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, body] = sealed.split('.');
    if (version !== VERSION || !iv || !tag || body === undefined) throw new Error('not a sealed secret');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  }

  /** A key for another purpose (e.g. signing cookies), derived so the device key itself never leaves. */
  derive(purpose: string): string {
    return crypto.createHmac('sha256', this.#key).update(purpose).digest('base64url');
  }

  sealOptional(plaintext: string | undefined | null): string | null {
    return plaintext ? this.seal(plaintext) : null;
  }

  openOptional(sealed: string | null | undefined): string | undefined {
    return sealed && sealed !== RETIRED_SECRET ? this.open(sealed) : undefined;
  }
}

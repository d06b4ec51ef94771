import type { Db } from '../db/database.js';
import { generatePassword, hashPassword, verifyPassword } from './password.js';

export const ADMIN_USER = 'admin';
export const MIN_PASSWORD_LENGTH = 10;

/** The administrator's password, stored only as a scrypt hash. */
export class AdminAccount {
  constructor(private readonly db: Db) {}

  /**
   * At first boot: take the initial password from the environment, or generate one.
   * Returns the generated password so the caller can show it once; undefined otherwise.
   */
  async ensurePassword(initial: string | undefined): Promise<string | undefined> {
    if (this.db.prepare('SELECT 1 FROM admin WHERE id = 1').get()) return undefined;
    const password = initial ?? generatePassword();
    this.db.prepare('INSERT INTO admin (id, password_hash, changed_at) VALUES (1, ?, ?)').run(await hashPassword(password), Date.now());
    return initial ? undefined : password;
  }

  async verify(user: string, password: string): Promise<boolean> {
    const row = this.db.prepare('SELECT password_hash FROM admin WHERE id = 1').get() as { password_hash: string } | undefined;
    // Hash even for a wrong user name so timing does not tell which part was wrong.
    const ok = row ? await verifyPassword(password, row.password_hash) : false;
    return ok && user === ADMIN_USER;
  }

  async change(password: string): Promise<void> {
    this.db.prepare('UPDATE admin SET password_hash = ?, changed_at = ? WHERE id = 1').run(await hashPassword(password), Date.now());
  }
}

import { fileURLToPath } from 'node:url';

/** The project root: this file runs from dist/server/web/, views/ and public/ sit at the root. */
export const projectRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const viewsDir = fileURLToPath(new URL('../../../views/', import.meta.url));
export const publicDir = fileURLToPath(new URL('../../../public/', import.meta.url));

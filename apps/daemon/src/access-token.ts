import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Name of the token file in the data directory. */
export const TOKEN_FILE = 'daemon.token';
/** The WebSocket subprotocol the daemon speaks; offer it beside `bearer.<token>`. */
export const STREAM_PROTOCOL = 'wfstate.v1';
/** Prefix of the WebSocket subprotocol that carries the token (browsers cannot set headers). */
export const TOKEN_PROTOCOL_PREFIX = 'bearer.';

/**
 * Creates the data directory (mode 0700, tightened if it exists) and writes a fresh
 * random token to `DIR/daemon.token` with mode 0600, atomically (a temporary file
 * renamed into place), so a reader never sees half a token. Returns the token.
 */
export function writeAccessToken(dataDir: string): string {
  prepareDataDir(dataDir);
  const token = randomBytes(32).toString('hex');
  const file = join(dataDir, TOKEN_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${token}\n`, { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, file);
  return token;
}

/** Creates `dataDir` if needed and makes it private to its owner (0700). */
export function prepareDataDir(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if ((statSync(dataDir).mode & 0o777) !== 0o700) chmodSync(dataDir, 0o700);
}

/** Removes the token file (at stop). */
export function removeAccessToken(dataDir: string): void {
  rmSync(join(dataDir, TOKEN_FILE), { force: true });
}

/** Compares a presented token with the daemon's in constant time. */
export function tokenMatches(presented: string | undefined, token: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** What a request presents: an `Authorization: Bearer` header, a `bearer.<token>` subprotocol or a `token` query parameter. */
export interface PresentedCredentials {
  readonly authorization?: string | undefined;
  readonly protocols?: string | undefined;
  readonly queryToken?: string | undefined;
}

/** The token a request presents, from the first of header, subprotocol and query that has one. */
export function presentedToken(credentials: PresentedCredentials): string | undefined {
  const header = credentials.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match?.[1];
  }
  if (credentials.protocols !== undefined) {
    for (const protocol of credentials.protocols.split(',')) {
      const trimmed = protocol.trim();
      if (trimmed.startsWith(TOKEN_PROTOCOL_PREFIX))
        return trimmed.slice(TOKEN_PROTOCOL_PREFIX.length);
    }
  }
  return credentials.queryToken;
}

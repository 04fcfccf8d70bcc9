/**
 * Where the hub is: a PostgreSQL URL and schema from the caller (a `--hub` flag), the
 * environment (`WF_SYNC_URL`, `WF_SYNC_SCHEMA`, `WF_SYNC_INTERVAL_MS`, `WF_SYNC_PASSWORD`)
 * or the user's config file (`$XDG_CONFIG_HOME/wirthforge/sync.json`, or `WF_SYNC_CONFIG`),
 * in that order. Nothing is configured by default: without a URL nothing leaves the device.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

import { SyncError } from './errors.js';

/** The default PostgreSQL schema of the hub's tables. */
export const DEFAULT_HUB_SCHEMA = 'wirthforge';
/** The default period of the daemon's sync job: five minutes. */
export const DEFAULT_SYNC_INTERVAL_MS = 5 * 60_000;
/** The smallest period the daemon's sync job accepts: five seconds. */
export const MIN_SYNC_INTERVAL_MS = 5_000;

/** A resolved hub: everything needed to connect, and what may be shown of it. */
export interface SyncConfig {
  /** The connection URL as given (may hold a password: never print it, use `displayUrl`). */
  readonly url: string;
  /** A password given apart from the URL (`WF_SYNC_PASSWORD` or the file's `password`). */
  readonly password: string | undefined;
  /** PostgreSQL schema of the hub's tables. */
  readonly schema: string;
  /** Period of the daemon's sync job; `undefined` when not configured (the job is off). */
  readonly intervalMs: number | undefined;
  /** The URL with its password replaced by `***`: safe for logs, messages and status. */
  readonly displayUrl: string;
  /** A short, stable id of the hub (host, port, database, schema; no user, no password). */
  readonly hubId: string;
  /** Where the URL came from. */
  readonly source: 'option' | 'env' | 'file';
  /** The config file read, if any. */
  readonly configFile: string | undefined;
  /** Set when the config file holds a password and others than its owner may read it. */
  readonly warning: string | undefined;
}

/** What {@link resolveSyncConfig} reads. */
export interface SyncConfigSources {
  /** `--hub URL`. */
  readonly url?: string | undefined;
  /** `--hub-schema NAME`. */
  readonly schema?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Base of a relative `WF_SYNC_CONFIG`; default the process's. */
  readonly cwd?: string | undefined;
}

interface FileSettings {
  url?: string;
  schema?: string;
  intervalMs?: number;
  password?: string;
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/**
 * The URL with its password (and a `password` query parameter) replaced by `***`. A
 * string that is not a URL is not shown at all.
 */
export function redactHubUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '<hub URL that is not a valid URL>';
  }
  if (parsed.password !== '') parsed.password = '***';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
  return parsed.toString().replaceAll('%2A%2A%2A', '***');
}

/** Removes every given secret (as written, and URL-encoded) from a text. */
export function scrubSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret === undefined || secret.length === 0) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      out = out.split(form).join('***');
    }
  }
  return out;
}

/** The password of a hub URL (decoded), if it has one. */
export function passwordOfUrl(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    const fromQuery = parsed.searchParams.get('password') ?? undefined;
    if (parsed.password !== '') return decodeURIComponent(parsed.password);
    return fromQuery;
  } catch {
    return undefined;
  }
}

function invalid(where: string, problem: string): SyncError {
  return new SyncError('invalid_config', `${where}: ${problem}`);
}

function checkUrl(url: string, where: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(where, 'is not a URL; expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE');
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw invalid(where, `expected a postgres:// or postgresql:// URL, got ${redactHubUrl(url)}`);
  }
  return url;
}

function checkSchema(schema: string, where: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw invalid(
      where,
      `expected letters, digits and _ (at most 63, not starting with a digit), got ${JSON.stringify(schema)}`,
    );
  }
  return schema;
}

/** A setting's value for a message: a number or a short string as written, else its kind (never a whole nested value). */
function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string')
    return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  return value === null ? 'null' : `a value of type ${typeof value}`;
}

function checkInterval(value: unknown, where: string): number {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d+$/.test(value.trim())
        ? Number(value)
        : Number.NaN;
  if (!Number.isSafeInteger(n) || n < MIN_SYNC_INTERVAL_MS) {
    throw invalid(
      where,
      `expected a whole number of milliseconds, at least ${MIN_SYNC_INTERVAL_MS}, got ${describeValue(value)}`,
    );
  }
  return n;
}

/** The default config file: `$XDG_CONFIG_HOME/wirthforge/sync.json` (or `~/.config/…`). */
export function defaultSyncConfigFile(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const base =
    xdg !== undefined && isAbsolute(xdg) ? xdg : join(env['HOME'] ?? homedir(), '.config');
  return join(base, 'wirthforge', 'sync.json');
}

function readSettings(path: string): FileSettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    // The text may hold a password: say what failed, never quote it.
    throw new SyncError(
      'invalid_config',
      `config file ${path}: cannot be read as JSON (${error instanceof SyntaxError ? 'syntax error' : ((error as NodeJS.ErrnoException).code ?? 'read error')})`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalid(`config file ${path}`, 'must be a JSON object such as {"url": "postgres://…"}');
  }
  const settings: FileSettings = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const where = `config file ${path}: ${key}`;
    switch (key) {
      case 'url':
        if (typeof value !== 'string') throw invalid(where, 'must be a string');
        settings.url = checkUrl(value, where);
        break;
      case 'schema':
        if (typeof value !== 'string') throw invalid(where, 'must be a string');
        settings.schema = checkSchema(value, where);
        break;
      case 'intervalMs':
        settings.intervalMs = checkInterval(value, where);
        break;
      case 'password':
        if (typeof value !== 'string') throw invalid(where, 'must be a string');
        settings.password = value;
        break;
      default:
        throw invalid(where, 'unknown setting; known: url, schema, intervalMs, password');
    }
  }
  return settings;
}

/** A stable short id of a hub: host, port, database and schema (never user or password). */
export function hubIdOf(url: string, schema: string): string {
  const parsed = new URL(url);
  const host = parsed.hostname.toLowerCase();
  const port = parsed.port === '' ? '5432' : parsed.port;
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return createHash('sha256')
    .update(`${host}:${port}/${database}#${schema}`)
    .digest('hex')
    .slice(0, 16);
}

/**
 * Resolves the hub: `url`/`schema` given by the caller over `WF_SYNC_URL`/`WF_SYNC_SCHEMA`
 * over the config file. Returns `undefined` when no URL is configured anywhere (sync is
 * off). Throws `invalid_config` for a bad value; the message never holds a password.
 *
 * @example
 * ```ts
 * const config = resolveSyncConfig({ url: flags.hub, env: process.env });
 * if (config === undefined) console.log('no hub configured: nothing leaves this device');
 * else console.log(`hub ${config.displayUrl}`);
 * ```
 */
export function resolveSyncConfig(sources: SyncConfigSources): SyncConfig | undefined {
  const env = sources.env;
  const explicit = env['WF_SYNC_CONFIG'];
  const configFile =
    explicit !== undefined && explicit !== ''
      ? resolve(sources.cwd ?? process.cwd(), explicit)
      : defaultSyncConfigFile(env);
  let file: FileSettings = {};
  let warning: string | undefined;
  if (existsSync(configFile)) {
    file = readSettings(configFile);
    if (file.password !== undefined || (file.url !== undefined && passwordOfUrl(file.url))) {
      const mode = statSync(configFile).mode & 0o077;
      if (mode !== 0) {
        warning = `config file ${configFile} holds a password and others may read it: chmod 600 ${configFile}`;
      }
    }
  } else if (explicit !== undefined && explicit !== '') {
    throw invalid('WF_SYNC_CONFIG', `no file at ${configFile}`);
  }
  const envUrl = env['WF_SYNC_URL'] === '' ? undefined : env['WF_SYNC_URL'];
  const url =
    sources.url !== undefined
      ? checkUrl(sources.url, '--hub')
      : envUrl !== undefined
        ? checkUrl(envUrl, 'WF_SYNC_URL')
        : file.url;
  if (url === undefined) return undefined;
  const source = sources.url !== undefined ? 'option' : envUrl !== undefined ? 'env' : 'file';
  const envSchema = env['WF_SYNC_SCHEMA'] === '' ? undefined : env['WF_SYNC_SCHEMA'];
  const schema =
    sources.schema !== undefined
      ? checkSchema(sources.schema, '--hub-schema')
      : envSchema !== undefined
        ? checkSchema(envSchema, 'WF_SYNC_SCHEMA')
        : (file.schema ?? DEFAULT_HUB_SCHEMA);
  const envInterval = env['WF_SYNC_INTERVAL_MS'];
  const intervalMs =
    envInterval !== undefined && envInterval !== ''
      ? checkInterval(envInterval, 'WF_SYNC_INTERVAL_MS')
      : file.intervalMs;
  const envPassword = env['WF_SYNC_PASSWORD'];
  const password = envPassword !== undefined && envPassword !== '' ? envPassword : file.password;
  return {
    url,
    password,
    schema,
    intervalMs,
    displayUrl: redactHubUrl(url),
    hubId: hubIdOf(url, schema),
    source,
    configFile: existsSync(configFile) ? configFile : undefined,
    warning,
  };
}

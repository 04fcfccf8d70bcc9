import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { resolveDataDirectory } from '@wirthforge/storage-sqlite';
import { DaemonError } from './errors.js';

/** Everything the daemon is started with, after flags, environment, file and defaults. */
export interface DaemonConfig {
  /** Directory of the database, the token and `daemon.json` (created 0700). */
  readonly dataDir: string;
  /** Address to listen on; loopback unless told otherwise. */
  readonly host: string;
  /** TCP port; 0 picks a free one (written to `daemon.json`). */
  readonly port: number;
  /** `synchronous` of the database: `full` (survives power loss) or `normal`. */
  readonly sync: 'full' | 'normal';
  /** Feed a simulated live session. */
  readonly simulate: boolean;
  /** Length of the simulated session, in seconds. */
  readonly simulateSeconds: number;
  /** pino level. */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Largest request body, in bytes (JSON or MessagePack; also the WebSocket message limit). */
  readonly bodyLimitBytes: number;
  /** Bytes a WebSocket subscriber may have waiting before it is closed with 4008. */
  readonly wsMaxBufferedBytes: number;
  /** Store token text as given instead of its hash (privacy off). */
  readonly storeContent: boolean;
  /** A snapshot of a session after this many of its events. */
  readonly snapshotEveryEvents: number;
  /** A snapshot of a session with new events at least this often, in seconds. */
  readonly snapshotEverySeconds: number;
  /** The config file that was read, if any. */
  readonly configFile: string | undefined;
}

/** The values a flag, variable or file may set (every key optional). */
export type DaemonSettings = Partial<Omit<DaemonConfig, 'configFile'>>;

/** The settings and their names in each source. */
interface SettingSpec {
  readonly key: keyof DaemonSettings;
  readonly flag: string;
  readonly env: string;
  readonly kind: 'string' | 'port' | 'bytes' | 'seconds' | 'count' | 'boolean' | 'sync' | 'level';
}

const SETTINGS: readonly SettingSpec[] = [
  { key: 'dataDir', flag: '--data-dir', env: 'WFSTATE_DATA_DIR', kind: 'string' },
  { key: 'host', flag: '--host', env: 'WFSTATE_HOST', kind: 'string' },
  { key: 'port', flag: '--port', env: 'WFSTATE_PORT', kind: 'port' },
  { key: 'sync', flag: '--sync', env: 'WFSTATE_SYNC', kind: 'sync' },
  { key: 'simulate', flag: '--simulate', env: 'WFSTATE_SIMULATE', kind: 'boolean' },
  {
    key: 'simulateSeconds',
    flag: '--simulate-seconds',
    env: 'WFSTATE_SIMULATE_SECONDS',
    kind: 'seconds',
  },
  { key: 'logLevel', flag: '--log-level', env: 'WFSTATE_LOG_LEVEL', kind: 'level' },
  { key: 'bodyLimitBytes', flag: '--body-limit', env: 'WFSTATE_BODY_LIMIT', kind: 'bytes' },
  {
    key: 'wsMaxBufferedBytes',
    flag: '--ws-max-buffered',
    env: 'WFSTATE_WS_MAX_BUFFERED',
    kind: 'bytes',
  },
  { key: 'storeContent', flag: '--store-content', env: 'WFSTATE_STORE_CONTENT', kind: 'boolean' },
  {
    key: 'snapshotEveryEvents',
    flag: '--snapshot-every-events',
    env: 'WFSTATE_SNAPSHOT_EVERY_EVENTS',
    kind: 'count',
  },
  {
    key: 'snapshotEverySeconds',
    flag: '--snapshot-every-seconds',
    env: 'WFSTATE_SNAPSHOT_EVERY_SECONDS',
    kind: 'seconds',
  },
];

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** The default TCP port of `wfstated`. */
export const DEFAULT_PORT = 7460;
/** The default body limit: 4 MiB. */
export const DEFAULT_BODY_LIMIT_BYTES = 4 * 1024 * 1024;
/** The default bound of a subscriber's send buffer: 8 MiB. */
export const DEFAULT_WS_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/**
 * The default number of a session's events between snapshots: recovery folds at most
 * this many events on top of the newest snapshot (a few milliseconds).
 */
export const DEFAULT_SNAPSHOT_EVERY_EVENTS = 10_000;
/** The default longest wait for a snapshot of a session with new events: one minute. */
export const DEFAULT_SNAPSHOT_EVERY_SECONDS = 60;

/** The usage text of `wfstated --help`. */
export const DAEMON_USAGE = `Usage: wfstated [options]

  --data-dir DIR          data directory (default $XDG_DATA_HOME/wirthforge)
  --host ADDR             address to listen on (default 127.0.0.1; others warn)
  --port N                port (default ${DEFAULT_PORT}; 0 picks one, see DIR/daemon.json)
  --sync full|normal      durability of commits (default full)
  --simulate              feed a simulated live session
  --simulate-seconds N    length of the simulated session (default 600)
  --log-level LEVEL       fatal|error|warn|info|debug|trace|silent (default info)
  --body-limit BYTES      largest request body (default ${DEFAULT_BODY_LIMIT_BYTES})
  --ws-max-buffered BYTES a subscriber's send buffer before it is closed (default ${DEFAULT_WS_MAX_BUFFERED_BYTES})
  --store-content         store token text instead of its hash
  --snapshot-every-events N   a session's snapshot after N of its events (default ${DEFAULT_SNAPSHOT_EVERY_EVENTS})
  --snapshot-every-seconds N  a snapshot of a session with new events at least every N s (default ${DEFAULT_SNAPSHOT_EVERY_SECONDS})
  --config FILE           YAML or JSON file with the same settings (camelCase keys)
  --help                  this text

Environment: WFSTATE_DATA_DIR, WFSTATE_HOST, WFSTATE_PORT, WFSTATE_SYNC, WFSTATE_SIMULATE,
WFSTATE_SIMULATE_SECONDS, WFSTATE_LOG_LEVEL, WFSTATE_BODY_LIMIT, WFSTATE_WS_MAX_BUFFERED,
WFSTATE_STORE_CONTENT, WFSTATE_SNAPSHOT_EVERY_EVENTS, WFSTATE_SNAPSHOT_EVERY_SECONDS,
WFSTATE_CONFIG. Precedence: flags, then environment, then the
config file (default $XDG_CONFIG_HOME/wirthforge/wfstated.yaml when it exists), then defaults.`;

/** What {@link resolveDaemonConfig} reads. */
export interface ConfigSources {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Base of relative paths. */
  readonly cwd: string;
}

/** The result of {@link resolveDaemonConfig}: a config, or a request for the usage text. */
export type ResolvedConfig =
  { readonly help: true } | { readonly help: false; readonly config: DaemonConfig };

function invalid(where: string, problem: string): DaemonError {
  return new DaemonError('invalid_config', `${where}: ${problem}`);
}

function parseValue(spec: SettingSpec, raw: unknown, where: string): unknown {
  const text = typeof raw === 'string' ? raw.trim() : raw;
  switch (spec.kind) {
    case 'string':
      if (typeof text !== 'string' || text === '')
        throw invalid(where, 'must be a non-empty string');
      return text;
    case 'boolean':
      if (typeof text === 'boolean') return text;
      if (text === 'true' || text === '1' || text === 'yes') return true;
      if (text === 'false' || text === '0' || text === 'no' || text === '') return false;
      throw invalid(where, `must be true or false, got ${JSON.stringify(raw)}`);
    case 'sync':
      if (text === 'full' || text === 'normal') return text;
      throw invalid(where, `must be full or normal, got ${JSON.stringify(raw)}`);
    case 'level':
      if (typeof text === 'string' && LEVELS.has(text)) return text;
      throw invalid(where, `must be one of ${[...LEVELS].join(', ')}, got ${JSON.stringify(raw)}`);
    case 'port':
    case 'bytes':
    case 'seconds':
    case 'count': {
      const value =
        typeof text === 'number'
          ? text
          : typeof text === 'string' && /^\d+$/.test(text)
            ? Number(text)
            : Number.NaN;
      if (!Number.isSafeInteger(value)) {
        throw invalid(where, `must be a non-negative integer, got ${JSON.stringify(raw)}`);
      }
      // A number from a file or a variable is not checked by the digits-only pattern.
      if (value < 0) throw invalid(where, `must be a non-negative integer, got ${value}`);
      if (spec.kind === 'port' && value > 65535)
        throw invalid(where, `must be at most 65535, got ${value}`);
      if (spec.kind !== 'port' && value < 1)
        throw invalid(where, `must be at least 1, got ${value}`);
      return value;
    }
  }
}

function parseFlags(argv: readonly string[]): {
  settings: Record<string, unknown>;
  config?: string;
  help: boolean;
} {
  const settings: Record<string, unknown> = {};
  let config: string | undefined;
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    if (name === '--help' || name === '-h') {
      help = true;
      continue;
    }
    const takeValue = (): string => {
      if (inline !== undefined) return inline;
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw invalid(name, 'needs a value');
      i++;
      return next;
    };
    if (name === '--config') {
      config = takeValue();
      continue;
    }
    const spec = SETTINGS.find((s) => s.flag === name);
    if (spec === undefined) throw invalid(name, `unknown option; see wfstated --help`);
    settings[spec.key] =
      spec.kind === 'boolean' && inline === undefined ? true : parseValue(spec, takeValue(), name);
  }
  return { settings, ...(config === undefined ? {} : { config }), help };
}

/**
 * `$XDG_DATA_HOME/wirthforge`, or `~/.local/share/wirthforge`: the rule of
 * `resolveDataDirectory` (`@wirthforge/storage-sqlite`), shared with `wfstate`, so both
 * open the same database.
 */
export function defaultDataDir(env: Readonly<Record<string, string | undefined>>): string {
  return resolveDataDirectory({ env, ...(env.HOME === undefined ? {} : { home: env.HOME }) }).dir;
}

function defaultConfigFile(env: Readonly<Record<string, string | undefined>>): string {
  const xdg = env.XDG_CONFIG_HOME;
  const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(env.HOME ?? homedir(), '.config');
  return join(base, 'wirthforge', 'wfstated.yaml');
}

/**
 * Deepest `[`/`{` nesting a config file may have: the YAML parser recurses per level, and
 * a file nested 20 000 levels deep took minutes, then exhausted the heap.
 */
const MAX_CONFIG_DEPTH = 64;

/** The line where the flow collections of a YAML text nest deeper than {@link MAX_CONFIG_DEPTH}. */
function flowDepth(text: string): number | undefined {
  let depth = 0;
  let line = 1;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (quote !== undefined) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') {
      if (++depth > MAX_CONFIG_DEPTH) return line;
    } else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
  }
  return undefined;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new DaemonError(
      'invalid_config',
      `config file ${path}: cannot be read (${(error as Error).message})`,
      { cause: error },
    );
  }
  const deep = flowDepth(text);
  if (deep !== undefined) {
    throw invalid(
      `config file ${path}: line ${deep}`,
      `nested more than ${MAX_CONFIG_DEPTH} levels deep`,
    );
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (error) {
    throw new DaemonError('invalid_config', `config file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed))
    throw invalid(`config file ${path}`, 'must be a mapping of settings');
  const settings: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const spec = SETTINGS.find((s) => s.key === key);
    if (spec === undefined) {
      throw invalid(
        `config file ${path}: key ${key}`,
        `unknown setting; known: ${SETTINGS.map((s) => s.key).join(', ')}`,
      );
    }
    settings[key] = parseValue(spec, value, `config file ${path}: ${key}`);
  }
  return settings;
}

/**
 * Resolves the daemon's settings: flags over `WFSTATE_*` environment variables over the
 * config file over defaults. Relative paths are resolved against `cwd`.
 *
 * @example
 * ```ts
 * const resolved = resolveDaemonConfig({ argv: process.argv.slice(2), env: process.env, cwd: process.cwd() });
 * if (!resolved.help) await startDaemon(resolved.config);
 * ```
 */
export function resolveDaemonConfig(sources: ConfigSources): ResolvedConfig {
  const flags = parseFlags(sources.argv);
  if (flags.help) return { help: true };
  const fromEnv: Record<string, unknown> = {};
  for (const spec of SETTINGS) {
    const raw = sources.env[spec.env];
    if (raw !== undefined && raw !== '') fromEnv[spec.key] = parseValue(spec, raw, spec.env);
  }
  const explicitFile = flags.config ?? (sources.env.WFSTATE_CONFIG || undefined);
  let configFile: string | undefined;
  if (explicitFile !== undefined) {
    configFile = resolve(sources.cwd, explicitFile);
  } else {
    const fallback = defaultConfigFile(sources.env);
    if (existsSync(fallback)) configFile = fallback;
  }
  const fromFile = configFile === undefined ? {} : readConfigFile(configFile);
  const merged = { ...fromFile, ...fromEnv, ...flags.settings } as DaemonSettings;
  const config: DaemonConfig = {
    dataDir: resolve(sources.cwd, merged.dataDir ?? defaultDataDir(sources.env)),
    host: merged.host ?? '127.0.0.1',
    port: merged.port ?? DEFAULT_PORT,
    sync: merged.sync ?? 'full',
    simulate: merged.simulate ?? false,
    simulateSeconds: merged.simulateSeconds ?? 600,
    logLevel: merged.logLevel ?? 'info',
    bodyLimitBytes: merged.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
    wsMaxBufferedBytes: merged.wsMaxBufferedBytes ?? DEFAULT_WS_MAX_BUFFERED_BYTES,
    storeContent: merged.storeContent ?? false,
    snapshotEveryEvents: merged.snapshotEveryEvents ?? DEFAULT_SNAPSHOT_EVERY_EVENTS,
    snapshotEverySeconds: merged.snapshotEverySeconds ?? DEFAULT_SNAPSHOT_EVERY_SECONDS,
    configFile,
  };
  return { help: false, config };
}

/** Whether `host` is a loopback address (the only kind bound without a warning). */
export function isLoopbackHost(host: string): boolean {
  return (
    host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host)
  );
}

/** A config with defaults for `dataDir` and anything else not given (tests, embedding). */
export function daemonConfig(
  settings: DaemonSettings & { readonly dataDir: string },
): DaemonConfig {
  return {
    host: '127.0.0.1',
    port: 0,
    sync: 'full',
    simulate: false,
    simulateSeconds: 600,
    logLevel: 'info',
    bodyLimitBytes: DEFAULT_BODY_LIMIT_BYTES,
    wsMaxBufferedBytes: DEFAULT_WS_MAX_BUFFERED_BYTES,
    storeContent: false,
    snapshotEveryEvents: DEFAULT_SNAPSHOT_EVERY_EVENTS,
    snapshotEverySeconds: DEFAULT_SNAPSHOT_EVERY_SECONDS,
    configFile: undefined,
    ...settings,
  };
}

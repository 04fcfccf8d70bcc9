/**
 * Where WIRTHFORGE State keeps its data when nobody says otherwise: one rule, shared by
 * the daemon and the command-line tool, so both open the same database.
 */
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** File name of the database inside a data directory. */
export const DATABASE_FILE_NAME = 'state.db';

/** A data directory and the database file in it. */
export interface DataDirectory {
  /** Absolute path of the directory. */
  readonly dir: string;
  /** Absolute path of the database file (`<dir>/state.db`). */
  readonly database: string;
  /** How the directory was chosen. */
  readonly source: 'option' | 'xdg' | 'home';
}

/** Inputs of {@link resolveDataDirectory}; every one has a default from the process. */
export interface ResolveDataDirectoryOptions {
  /** An explicit directory (e.g. `--data-dir`), relative to `cwd`. */
  readonly dataDir?: string | undefined;
  /** Environment to read `XDG_DATA_HOME` from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Home directory (default `os.homedir()`). */
  readonly home?: string;
  /** Base of a relative `dataDir` (default `process.cwd()`). */
  readonly cwd?: string;
}

/**
 * The data directory: `dataDir` when given, else `$XDG_DATA_HOME/wirthforge` (when
 * `XDG_DATA_HOME` is set to an absolute path, as the XDG Base Directory specification
 * requires; a relative value is ignored), else `~/.local/share/wirthforge`. The database
 * is `state.db` inside it.
 *
 * @example
 * ```ts
 * const { database } = resolveDataDirectory({ dataDir: flags.dataDir });
 * const storage = await openSqliteStorage({ path: database });
 * ```
 */
export function resolveDataDirectory(options: ResolveDataDirectoryOptions = {}): DataDirectory {
  const env = options.env ?? process.env;
  let dir: string;
  let source: DataDirectory['source'];
  if (options.dataDir !== undefined && options.dataDir !== '') {
    dir = resolve(options.cwd ?? process.cwd(), options.dataDir);
    source = 'option';
  } else {
    const xdg = env.XDG_DATA_HOME;
    if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) {
      dir = join(xdg, 'wirthforge');
      source = 'xdg';
    } else {
      dir = join(options.home ?? homedir(), '.local', 'share', 'wirthforge');
      source = 'home';
    }
  }
  return { dir, database: join(dir, DATABASE_FILE_NAME), source };
}

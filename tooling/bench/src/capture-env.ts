import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import sqlite3 from 'sqlite3';
import type { BenchOptions } from './bench-case.js';

/** Where and with what the benchmark ran: written to the JSON beside the results. */
export interface BenchEnv {
  readonly date: string;
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  readonly arch: string;
  readonly osRelease: string;
  readonly cpu: string;
  readonly cpus: number;
  readonly memoryGb: number;
  /** SQLite library of better-sqlite3 (raw baseline and WIRTHFORGE storage). */
  readonly sqlite: string;
  readonly betterSqlite3: string;
  /** SQLite library of node-sqlite3 (the driver Emmett's SQLite store uses). */
  readonly sqlite3Library: string;
  readonly sqlite3: string;
  readonly emmett: string;
  readonly emmettSqlite: string;
  readonly gitCommit: string | null;
  readonly tmpDir: string;
  readonly options: BenchOptions;
}

/** Version field of an installed package's package.json, found from its resolved entry point. */
export function packageVersion(name: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.resolve(name)));
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const manifest = JSON.parse(readFileSync(file, 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === name && typeof manifest.version === 'string') return manifest.version;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`package.json of ${name} not found`);
    dir = parent;
  }
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return null;
  }
}

/** Captures the machine, runtime and library versions of this run. */
export function captureEnv(options: BenchOptions, now: Date = new Date()): BenchEnv {
  const db = new Database(':memory:');
  const { version } = db.prepare('SELECT sqlite_version() AS version').get() as { version: string };
  db.close();
  const cpus = os.cpus();
  return {
    date: now.toISOString(),
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    osRelease: os.release(),
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    sqlite: version,
    betterSqlite3: packageVersion('better-sqlite3'),
    sqlite3Library: sqlite3.VERSION,
    sqlite3: packageVersion('sqlite3'),
    emmett: packageVersion('@event-driven-io/emmett'),
    emmettSqlite: packageVersion('@event-driven-io/emmett-sqlite'),
    gitCommit: gitCommit(),
    tmpDir: options.tmpDir,
    options,
  };
}

import { isStorageError } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';

import { classifySqliteError, sqliteErrorCode, toSqliteStorageError } from './errors.js';
import { openConnection } from './sqlite-connection.js';

describe('SQLite error classification', () => {
  it.each([
    ['SQLITE_BUSY', 'busy'],
    ['SQLITE_BUSY_SNAPSHOT', 'busy'],
    ['SQLITE_LOCKED_SHAREDCACHE', 'busy'],
    ['SQLITE_FULL', 'full'],
    ['SQLITE_IOERR', 'io'],
    ['SQLITE_IOERR_FSYNC', 'io'],
    ['SQLITE_IOERR_SHORT_READ', 'io'],
    ['SQLITE_CANTOPEN_ISDIR', 'io'],
    ['SQLITE_CORRUPT', 'corrupt'],
    ['SQLITE_CORRUPT_INDEX', 'corrupt'],
    ['SQLITE_NOTADB', 'corrupt'],
    ['SQLITE_CONSTRAINT_UNIQUE', 'constraint'],
    ['SQLITE_CONSTRAINT_FOREIGNKEY', 'constraint'],
    ['SQLITE_CONSTRAINT_PRIMARYKEY', 'constraint'],
    ['SQLITE_READONLY', 'readonly'],
    ['SQLITE_READONLY_DBMOVED', 'readonly'],
    ['SQLITE_READONLY_RECOVERY', 'readonly'],
    ['SQLITE_TOOBIG', 'invalid_argument'],
    ['ENOSPC', 'full'],
    ['EROFS', 'readonly'],
    ['EACCES', 'readonly'],
    ['EIO', 'io'],
  ])('maps %s to %s', (code, expected) => {
    expect(sqliteErrorCode(code)).toBe(expected);
  });

  it('leaves unknown codes unmapped', () => {
    expect(sqliteErrorCode('SQLITE_UNHEARD_OF')).toBeUndefined();
    expect(sqliteErrorCode('EWHATEVER')).toBeUndefined();
    expect(classifySqliteError(new Error('no code'))).toBeUndefined();
    expect(classifySqliteError({ code: 42 })).toBeUndefined();
  });

  it('classifies errors thrown by a real connection', () => {
    const db = openConnection(':memory:');
    db.exec('create table t (id integer primary key, v text not null unique)');
    db.prepare("insert into t (v) values ('a')").run();
    const thrown = (fn: () => void): unknown => {
      try {
        fn();
      } catch (error) {
        return error;
      }
      throw new Error('no error');
    };
    const unique = toSqliteStorageError(
      thrown(() => db.prepare("insert into t (v) values ('a')").run()),
      'insert',
    );
    expect(unique.code).toBe('constraint');
    expect(unique.message).toMatch(/^insert: UNIQUE constraint failed/);
    expect(
      toSqliteStorageError(thrown(() => db.prepare('insert into t (v) values (null)').run())).code,
    ).toBe('constraint');
    db.pragma('query_only = ON');
    expect(
      toSqliteStorageError(thrown(() => db.prepare("insert into t (v) values ('b')").run())).code,
    ).toBe('readonly');
    db.close();
    const generic = toSqliteStorageError(new TypeError('boom'));
    expect(isStorageError(generic, 'io')).toBe(true);
  });
});

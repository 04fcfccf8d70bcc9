import { describe, expect, it } from 'vitest';

import { isStorageError } from './errors.js';
import {
  SCHEMA_VERSION,
  assertSchemaVersionSupported,
  parseSchemaVersion,
} from './schema-version.js';

describe('schema version', () => {
  it('accepts the known version, older ones and a new database', () => {
    expect(() => assertSchemaVersionSupported(SCHEMA_VERSION)).not.toThrow();
    expect(() => assertSchemaVersionSupported(0)).not.toThrow();
    expect(() => assertSchemaVersionSupported(1, 3)).not.toThrow();
  });

  it('refuses a newer version with a version error saying both versions', () => {
    let caught: unknown;
    try {
      assertSchemaVersionSupported(7, 2, '/data/state.db');
    } catch (error) {
      caught = error;
    }
    expect(isStorageError(caught, 'version')).toBe(true);
    const message = (caught as Error).message;
    expect(message).toContain('/data/state.db has schema version 7');
    expect(message).toContain('up to 2');
  });

  it('parses stored versions and rejects garbage as corrupt', () => {
    expect(parseSchemaVersion('1')).toBe(1);
    expect(parseSchemaVersion('42')).toBe(42);
    for (const bad of ['', '0', '-1', '1.5', 'one', '01']) {
      expect(() => parseSchemaVersion(bad)).toThrowError(/not a schema version/);
    }
  });
});

export { PURGED_HEAD_KEY, appendLockKey, openPostgresStorage } from './postgres-storage.js';
export type {
  PostgresPurgeReport,
  PostgresStorage,
  PostgresStorageOptions,
} from './postgres-storage.js';
export { postgresSchemaDialect } from './postgres-schema-dialect.js';
export { SchemaScopedPostgresDialect } from './schema-scoped-dialect.js';
export { classifyPostgresError, postgresErrorClass, toPostgresStorageError } from './errors.js';
export type { PostgresErrorClass } from './errors.js';

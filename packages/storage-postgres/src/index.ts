export { appendLockKey, openPostgresStorage } from './postgres-storage.js';
export type { PostgresStorage, PostgresStorageOptions } from './postgres-storage.js';
export { postgresSchemaDialect } from './postgres-schema-dialect.js';
export { SchemaScopedPostgresDialect } from './schema-scoped-dialect.js';
export { classifyPostgresError, postgresErrorClass, toPostgresStorageError } from './errors.js';
export type { PostgresErrorClass } from './errors.js';

/**
 * Kysely's PostgreSQL dialect, with introspection limited to one schema. The shared
 * migration code asks the introspector whether `metadata` and `kysely_migration` exist;
 * Kysely's PostgreSQL introspector lists the tables of every schema, so a second store in
 * the same database would otherwise answer for this one.
 */
import { PostgresDialect } from 'kysely';
import type {
  DatabaseIntrospector,
  DatabaseMetadata,
  DatabaseMetadataOptions,
  Kysely,
  PostgresDialectConfig,
  SchemaMetadata,
  TableMetadata,
} from 'kysely';

class SchemaScopedIntrospector implements DatabaseIntrospector {
  constructor(
    private readonly inner: DatabaseIntrospector,
    private readonly schema: string,
  ) {}

  async getSchemas(): Promise<SchemaMetadata[]> {
    return (await this.inner.getSchemas()).filter((s) => s.name === this.schema);
  }

  async getTables(options?: DatabaseMetadataOptions): Promise<TableMetadata[]> {
    return (await this.inner.getTables(options)).filter((t) => t.schema === this.schema);
  }

  async getMetadata(options?: DatabaseMetadataOptions): Promise<DatabaseMetadata> {
    return { tables: await this.getTables(options) };
  }
}

/** A {@link PostgresDialect} whose introspector sees only the tables of `schema`. */
export class SchemaScopedPostgresDialect extends PostgresDialect {
  constructor(
    config: PostgresDialectConfig,
    private readonly schema: string,
  ) {
    super(config);
  }

  override createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SchemaScopedIntrospector(super.createIntrospector(db), this.schema);
  }
}

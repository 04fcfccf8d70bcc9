import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from './openapi-document.js';

describe('openapi.json', () => {
  it('is the document the routes generate (run `pnpm --filter @wirthforge/daemon openapi` after a change)', async () => {
    const committed = JSON.parse(
      readFileSync(new URL('../openapi.json', import.meta.url), 'utf8'),
    ) as unknown;
    const generated = JSON.parse(JSON.stringify(await openApiDocument())) as unknown;
    expect(committed).toEqual(generated);
  });

  it('documents every HTTP route with its schemas (the WebSocket is in the README)', async () => {
    const document = (await openApiDocument()) as {
      paths: Record<
        string,
        Record<string, { parameters?: { name: string }[]; requestBody?: unknown }>
      >;
    };
    expect(Object.keys(document.paths).sort()).toEqual(
      [
        '/healthz',
        '/readyz',
        '/v1/sessions',
        '/v1/sessions/{id}',
        '/v1/sessions/{id}/end',
        '/v1/sessions/{id}/events',
        '/v1/sessions/{id}/export',
        '/v1/sessions/{id}/state',
        '/v1/user',
        '/metrics',
        '/v1/analytics/rollups',
        '/v1/analytics/trends',
        '/v1/analytics/usage',
        '/v1/analytics/levels',
        '/v1/admin/append',
        '/v1/admin/snapshots',
        '/v1/admin/snapshots/prune',
        '/v1/admin/purge',
        '/v1/admin/vacuum',
        '/v1/admin/rebuild-projections',
        '/v1/admin/snapshots/drop-corrupt',
        '/v1/admin/restore',
        '/v1/admin/migrate',
      ].sort(),
    );
    expect(document.paths['/v1/sessions/{id}/events']?.post?.requestBody).toBeDefined();
    expect(
      document.paths['/v1/sessions/{id}/state']?.get?.parameters?.map((p) => p.name),
    ).toContain('at');
  });
});

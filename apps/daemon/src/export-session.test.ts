import type { StoreRecord } from '@wirthforge/eventstore';
import { parse as parseYaml } from 'yaml';
import { describe, expect, it } from 'vitest';
import { REDACTED, exportedRecord, renderExport, type ExportFormat } from './export-session.js';

const session = '20250817T194800Z_001';
function record(position: number, event: Record<string, unknown>): StoreRecord {
  return {
    position: BigInt(position),
    version: BigInt(position),
    stream: `session-${session}`,
    event: { session_id: session, timestamp: '2025-08-17T19:48:00.000000Z', ...event },
  } as unknown as StoreRecord;
}
const records = [
  record(1, {
    type: 'user.prompt',
    data: { prompt_id: 'p1', interface: 'text', truncated: false, hash: 'abc' },
  }),
  record(2, {
    type: 'ai.output',
    data: { token: 'Hello', prompt_id: 'p1', token_index: 0, is_last: false, model_id: 'm' },
  }),
  record(3, { type: 'health.heartbeat', data: { system_health: 'healthy', fps: 60 } }),
];
async function* source(): AsyncGenerator<StoreRecord> {
  for (const record of records) {
    await Promise.resolve(); // a reader's page boundary
    yield record;
  }
}
async function text(format: ExportFormat, include: boolean, chunkEvents = 2): Promise<string> {
  let out = '';
  for await (const part of renderExport(session, source(), format, include, chunkEvents))
    out += part;
  return out;
}

describe('export', () => {
  it('redacts prompt hashes and tokens unless asked, without touching the stored record', () => {
    const redacted = records.map((r) => exportedRecord(r, false));
    expect((redacted[0]!.event as { data: { hash: string } }).data.hash).toBe(REDACTED);
    expect((redacted[1]!.event as { data: { token: string } }).data.token).toBe(REDACTED);
    expect(redacted[2]!.event).toBe(records[2]!.event);
    expect((records[1]!.event as unknown as { data: { token: string } }).data.token).toBe('Hello');
    expect(
      (exportedRecord(records[1]!, true).event as { data: { token: string } }).data.token,
    ).toBe('Hello');
  });

  it('json, ndjson and yaml hold the same records, whatever the chunking', async () => {
    const expected = records.map((r) => exportedRecord(r, false));
    for (const chunkEvents of [1, 2, 100]) {
      const json = JSON.parse(await text('json', false, chunkEvents)) as {
        session: string;
        redacted: boolean;
        events: unknown[];
      };
      expect(json).toEqual({ session, redacted: true, events: expected });
      const lines = (await text('ndjson', false, chunkEvents))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown);
      expect(lines).toEqual(expected);
      expect(parseYaml(await text('yaml', false, chunkEvents))).toEqual(json);
    }
  });

  it('an empty session exports as an empty list', async () => {
    async function* none(): AsyncGenerator<StoreRecord> {}
    let json = '';
    for await (const part of renderExport(session, none(), 'json', false)) json += part;
    expect(JSON.parse(json)).toEqual({ session, redacted: true, events: [] });
    let yaml = '';
    for await (const part of renderExport(session, none(), 'yaml', true)) yaml += part;
    expect(parseYaml(yaml)).toEqual({ session, redacted: false, events: [] });
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createEventStore, type EventStore } from '@wirthforge/eventstore';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { isCliError } from '../src/errors.js';
import { importRecords, readImportFile } from '../src/import-events.js';

// Files the fault suite's generated input found `wfstate import` failing on with an
// untyped error ("this is unexpected"), or importing changed: each is now refused as
// invalid input naming the record, line or document, and nothing is written.

const SESSION = '20261127T120000Z_001';
const event = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  session_id: SESSION,
  timestamp: '2026-11-27T12:00:01Z',
  type: 'user.action',
  event_id: 'e-1',
  data: { action: 'stop' },
  ...overrides,
});

let dir: string;
let store: EventStore;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wfstate-import-bad-'));
  store = createEventStore({
    storage: await openSqliteStorage({ path: join(dir, 'state.db') }),
    cache: false,
  });
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function refusal(name: string, contents: string | Buffer): Promise<string> {
  const path = join(dir, name);
  writeFileSync(path, contents);
  try {
    const { format, records } = readImportFile(path);
    await importRecords(store, format, records);
  } catch (error) {
    expect(isCliError(error, 'invalid_input')).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`${name} was imported`);
}

describe('import refuses, naming where', () => {
  it('a file that is not UTF-8 (it was imported with U+FFFD in place of the bytes)', async () => {
    const text = Buffer.from(JSON.stringify({ events: [event()] }));
    const at = text.indexOf('stop');
    const bytes = Buffer.concat([text.subarray(0, at), Buffer.from([0xff]), text.subarray(at)]);
    expect(await refusal('latin.json', bytes)).toMatch(
      new RegExp(`latin\\.json line 1: not UTF-8 \\(byte 0xff at offset ${at}\\)`),
    );
  });

  it('a YAML file nested 20 000 levels deep (the YAML parser ran out of stack, then of memory)', async () => {
    const deep = `${'['.repeat(20_000)}1${']'.repeat(20_000)}`;
    expect(await refusal('deep.yaml', `events:\n- {"a": 1}\n- {"a": ${deep}}\n`)).toMatch(
      /deep\.yaml line 3: nested more than 256 levels deep/,
    );
  });

  it('a YAML session_metadata.session_id or stream_metadata.stream that is not one', async () => {
    expect(
      await refusal('meta.yaml', 'session_metadata: {"session_id": "2026x"}\nevents: []\n'),
    ).toMatch(/meta\.yaml document 1: session_metadata\.session_id "2026x" is not a session id/);
    expect(
      await refusal('meta2.yaml', 'events: []\n---\nstream_metadata: {"stream": ""}\nevents: []\n'),
    ).toMatch(/meta2\.yaml document 2: stream_metadata\.stream "" is not a stream name/);
  });

  it('a stream that is not a stream name, and a session id that is not one', async () => {
    expect(
      await refusal('stream.json', JSON.stringify({ events: [{ stream: '', event: event() }] })),
    ).toMatch(/events\[0\]: stream "" is not a stream name/);
    expect(
      await refusal(
        'stream2.json',
        JSON.stringify({ events: [{ stream: 'session-x', event: event() }] }),
      ),
    ).toMatch(/events\[0\]: stream "session-x" is not a stream name/);
    expect(
      await refusal(
        'session.ndjson',
        `${JSON.stringify(event())}\n${JSON.stringify(event({ session_id: 'x' }))}\n`,
      ),
    ).toMatch(/line 2: session_id "x" is not a session id/);
  });

  it('what the store cannot keep although the schema allows it, before anything is written', async () => {
    const message = await refusal(
      'early.json',
      JSON.stringify({
        events: [
          event({ event_id: 'ok' }),
          event({ event_id: 'early', timestamp: '1969-12-31T23:59:59Z' }),
          event({ event_id: 'x'.repeat(129) }),
        ],
      }),
    );
    expect(message).toMatch(
      /^2 invalid event\(s\); first at events\[1\]: \/timestamp .*before 1970/,
    );
    expect(await store.storage.streamVersion(`session-${SESSION}`)).toBe(0n);
  });

  it('an event id already stored with other content', async () => {
    const path = join(dir, 'first.json');
    writeFileSync(path, JSON.stringify({ events: [event({ event_id: 'taken' })] }));
    const first = readImportFile(path);
    expect((await importRecords(store, first.format, first.records)).appended).toBe(1);
    expect(
      await refusal(
        'second.json',
        JSON.stringify({
          events: [event({ event_id: 'taken', timestamp: '2026-11-27T12:00:02Z' })],
        }),
      ),
    ).toMatch(/^events\[0\]: .*taken/);
  });
});

import { writeFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import fc from 'fast-check';
import { importRecords, isCliError, readImportFile } from '@wirthforge/cli/dist/index.js';
import { validateEvent } from '@wirthforge/events';
import { createEventStore, isInvalidEventError } from '@wirthforge/eventstore';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { type FaultRow } from '../fault-row.js';
import {
  eventArbitrary,
  hostileValue,
  textMutation,
  validEventArbitrary,
  validEventPool,
  type Loose,
  type TextMutation,
} from '../fuzz/event-arbitraries.js';
import {
  ACCEPTED,
  REJECTED,
  fuzzSurface,
  inputsFor,
  preview,
  reportTally,
  scratchDir,
  type Verdict,
} from '../fuzz/fuzz-loop.js';
import { allStringsWellFormed } from '../fuzz/json-equal.js';

/** Where a refusal of `wfstate import` places its problem: the file's record, line or document. */
const PLACED = /events\[\d+\]|line \d+|document \d+|\.(json|ndjson|yaml)\b/;

/** One record of an export, in one of the shapes `wfstate import` reads. */
function recordArbitrary(pool: readonly Record<string, unknown>[]): fc.Arbitrary<Loose> {
  const event = fc.oneof(
    { arbitrary: validEventArbitrary(pool), weight: 2 },
    { arbitrary: eventArbitrary(pool).map((e) => e.event), weight: 1 },
  );
  return fc.oneof(
    { arbitrary: event, weight: 4 },
    {
      // `{ stream, version, event }`, the shape `wfstate export` writes.
      arbitrary: fc
        .tuple(
          event,
          fc.oneof(
            fc.constant(undefined),
            fc.constantFrom<Loose>(1, 2, 0, -1, '3', 1.5, 2 ** 60, 'x'),
          ),
          fc.oneof(
            fc.constant(undefined),
            fc.constantFrom<Loose>('', 'system', 'session-x', 'user-fuzz'),
          ),
        )
        .map(([e, version, stream]) => ({ event: e, version, stream })),
      weight: 1,
    },
    { arbitrary: hostileValue, weight: 1 },
  );
}

type ImportFile = { readonly format: 'json' | 'ndjson' | 'yaml'; readonly bytes: Buffer };

function fileArbitrary(
  pool: readonly Record<string, unknown>[],
  session: string,
): fc.Arbitrary<ImportFile> {
  const records = fc.array(recordArbitrary(pool), { minLength: 0, maxLength: 6 });
  const text = fc.oneof(
    records.map((r) => ({ format: 'json' as const, text: JSON.stringify({ events: r }) })),
    records.map((r) => ({ format: 'json' as const, text: JSON.stringify(r) })),
    records.map((r) => ({
      format: 'ndjson' as const,
      text: r.map((x) => JSON.stringify(x) ?? 'undefined').join('\n'),
    })),
    fc.tuple(records, fc.boolean()).map(([r, meta]) => ({
      format: 'yaml' as const,
      // JSON is YAML: flow mappings under a block list.
      text: `${meta ? `session_metadata: {"session_id": "${session}"}\n` : ''}events:\n${r
        .map((x) => `- ${JSON.stringify(x) ?? 'null'}`)
        .join('\n')}\n${meta ? '---\nevents: []\n' : ''}`,
    })),
    hostileValue.map((v) => ({ format: 'json' as const, text: JSON.stringify(v) ?? 'x' })),
  );
  return fc
    .tuple(
      text,
      fc.oneof(
        { arbitrary: fc.constant([] as TextMutation[]), weight: 3 },
        { arbitrary: fc.array(textMutation, { minLength: 1, maxLength: 2 }), weight: 1 },
      ),
    )
    .map(([t, changes]) => {
      let bytes: Buffer = Buffer.from(t.text);
      for (const change of changes) bytes = change(bytes);
      return { format: t.format, bytes };
    });
}

/**
 * `wfstate import FILE`, in-process: the CLI's own `readImportFile` (format from the
 * contents: JSON, NDJSON, YAML) and `importRecords` into one writable store, as the
 * command runs them. Generated files: exports of valid and mutated events in every
 * shape the command reads, with text damage (bad UTF-8, cuts, NaN, 200 000 levels). A
 * refusal is a `CliError` naming the record, line or document; an import stores only
 * valid events, each found in the store afterwards under its event id.
 */
export const fuzzImportRow: FaultRow = {
  id: 'input.import',
  fault: 'generated export files through wfstate import (in-process, one store)',
  async run(ctx, result) {
    const tmp = scratchDir('import');
    const storage = await openSqliteStorage({ path: join(tmp.dir, 'state.db') });
    const store = createEventStore({ storage, cache: false });
    const session = '20261127T120000Z_001';
    try {
      const pool = validEventPool(session, true);
      const file = join(tmp.dir, 'import.data');
      const runs = inputsFor(ctx.long, 2_000);
      let typedStoreRefusals = 0;
      const tally = await fuzzSurface({
        arbitrary: fileArbitrary(pool, session),
        runs,
        seed: 0x1e0,
        timeoutMs: 30_000,
        describe: (f) => `${f.format} ${preview(f.bytes)}`,
        attempt: async (f): Promise<Verdict> => {
          writeFileSync(file, f.bytes);
          let parsed: ReturnType<typeof readImportFile>;
          let report: Awaited<ReturnType<typeof importRecords>>;
          try {
            parsed = readImportFile(file);
            report = await importRecords(store, parsed.format, parsed.records);
          } catch (error) {
            if (isCliError(error)) {
              if (error.code === 'failed')
                return { kind: 'crash', detail: `untyped failure: ${error.message}` };
              // The record, line or document; or the file, for what is wrong with the whole of it.
              return PLACED.test(error.message) || error.message.startsWith(`${file}:`)
                ? REJECTED
                : { kind: 'violation', detail: `refusal does not say where: ${error.message}` };
            }
            // The store's own refusal, typed, with the record's index and path.
            if (
              isInvalidEventError(error) &&
              error.issues.every((i) => typeof i.path === 'string')
            ) {
              typedStoreRefusals += 1;
              return {
                kind: 'violation',
                detail: `refused by the store, not by import: ${error.message}`,
              };
            }
            return {
              kind: 'crash',
              detail: `threw ${error instanceof Error ? (error.stack ?? error.message).slice(0, 400) : String(error)}`,
            };
          }
          if (!isUtf8(f.bytes))
            return { kind: 'violation', detail: 'imported a file that is not UTF-8' };
          for (const record of parsed.records) {
            const status = validateEvent(record.event).status;
            if (status === 'invalid')
              return { kind: 'violation', detail: `imported an invalid event (${record.where})` };
            if (!allStringsWellFormed(record.event))
              return { kind: 'violation', detail: `imported a lone surrogate (${record.where})` };
          }
          if (report.appended + report.skipped !== parsed.records.length)
            return {
              kind: 'violation',
              detail: `${parsed.records.length} records, ${report.appended} appended + ${report.skipped} skipped`,
            };
          // Read back: every imported event id is in its stream.
          const byStream = new Map<string, Set<string>>();
          for (const r of parsed.records) {
            if (typeof r.event.event_id !== 'string') continue;
            const ids = byStream.get(r.stream) ?? new Set<string>();
            ids.add(r.event.event_id);
            byStream.set(r.stream, ids);
          }
          for (const [stream, ids] of byStream) {
            for await (const stored of storage.readStream(stream)) ids.delete(stored.eventId ?? '');
            if (ids.size > 0)
              return {
                kind: 'violation',
                detail: `${stream}: ${ids.size} imported event ids not found`,
              };
          }
          return ACCEPTED;
        },
        progress: (t) => ctx.log(`input.import: ${t.inputs} inputs`),
      });
      reportTally(result, 'import', tally);
      if (typedStoreRefusals > 0)
        result.notes.push(
          `import: ${typedStoreRefusals} files refused by the store's validation rather than import's`,
        );
    } finally {
      await store.close();
      tmp.remove();
    }
  },
};

/**
 * The writer a crash or power-loss row runs in a child process (an ES module string
 * importing the built packages through `WF_*` environment variables). Arguments: the
 * database path, a seed, `full` or `normal`, and `backup` to run online backups in a loop.
 *
 * It waits for `go` on stdin (so it can be started ahead, warm), opens the store (a
 * fresh file is migrated here), recovers the sessions a kill left open (printing
 * `recovered <session> <recovered state hash> <replay hash>`), seals on a short schedule,
 * takes snapshots on a short schedule, and records a 60 Hz session through the recorder,
 * every event with an `event_id`, awaited with `append()`. Only once an event is durable
 * does it print `ack <event_id> <position>`: stdout is a pipe, written synchronously, so
 * an acknowledgement reaches the parent even if the process is killed right after.
 * `backup begin` / `backup end` bracket each online backup.
 */
export const WRITER_CHILD = `
const { toIsoMicros } = await import(process.env.WF_EVENTS);
const { createEventStore, createRecorder, foldEvents, stateHash } = await import(process.env.WF_EVENTSTORE);
const { openSqliteStorage } = await import(process.env.WF_SQLITE);
const { createSnapshotStore, recoverSessions, startSnapshotScheduler } = await import(process.env.WF_SNAPSHOTS);
const [path, seedText, sync, backup] = process.argv.slice(1);
const seed = Number(seedText);
const out = (line) => process.stdout.write(line + '\\n');
await new Promise((resolve) => process.stdin.once('data', resolve));
const started = performance.now();
const phase = (name) => out('phase ' + name + ' ' + Math.round(performance.now() - started));
const storage = await openSqliteStorage({ path, synchronous: sync, seal: { minEvents: 40 + (seed % 60), maxAgeMs: 250 } });
if (storage.pragmas.synchronous !== sync) throw new Error('synchronous is ' + storage.pragmas.synchronous);
out('opened');
phase('opened');
const store = createEventStore({ storage });
const snapshots = createSnapshotStore(store, { fullEvery: 3, keepFull: 2 });
for (const r of await recoverSessions(snapshots, { then: 'close' })) {
  const records = await store.readStream(r.stream, { to: r.state.version }).toArray();
  const replay = {};
  for (const p of snapshots.projections) replay[p.name] = foldEvents(p, records);
  out(['recovered', r.sessionId, r.hash, stateHash(replay)].join(' '));
}
phase('recovered');
startSnapshotScheduler(snapshots, { everyEvents: 30 + (seed % 50), everyMs: 150, pruneEveryMs: 300 });
const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
phase('started');
out('session ' + session.id);
if (backup === 'backup') {
  const target = path + '.backup';
  const loop = () => {
    out('backup begin');
    storage.backup(target, { overwrite: true }).then(() => { out('backup end'); setTimeout(loop, 20); }, (e) => out('error ' + String(e && e.code) + ' backup: ' + String(e && e.message).replace(/\\n/g, ' ')));
  };
  setTimeout(loop, seed % 100);
}
const recorder = createRecorder(store, { clock: 'external' });
const models = ['ollama/llama2:7b', 'ollama/mistral:7b'];
let frame = 0;
let prompt = 0;
let accumulator = 0;
const ack = (id) => ({ position }) => out('ack ' + id + ' ' + position);
const fail = (error) => out('error ' + String(error && error.code) + ' ' + String(error && error.message).replace(/\\n/g, ' '));
const base = (id) => ({ session_id: session.id, timestamp: toIsoMicros(Date.now() * 1000), event_id: session.id + ':' + id });
setInterval(() => {
  frame += 1;
  models.forEach((model_id, i) => {
    const id = frame + '.' + i;
    const energy = ((frame * 7 + i * 13 + seed) % 97) / 10;
    accumulator += energy;
    recorder
      .append({ ...base(id), type: 'energy.update', frame_id: frame, data: { energy, accumulator, model_id } })
      .then(ack(session.id + ':' + id), fail);
  });
  if (frame % 9 === 0) {
    const prompt_id = 'p' + ++prompt;
    const id = frame + '.p';
    recorder
      .append({ ...base(id), type: 'user.prompt', data: { prompt_id, interface: 'text', truncated: false } })
      .then(ack(session.id + ':' + id), fail);
  }
  recorder.endFrame();
}, 1000 / 60);
`;

/** The parsed output of one writer child. */
export interface WriterOutput {
  readonly acks: [string, bigint][];
  readonly recovered: number;
  readonly replayMismatches: string[];
  readonly errors: string[];
  readonly session: string | undefined;
  /** A backup had begun and not ended when the output stopped. */
  readonly inBackup: boolean;
  readonly opened: boolean;
  /** Milliseconds from `go` to each phase the writer reached: opened, recovered, started. */
  readonly phases: Record<string, number>;
}

/** Reads a writer child's stdout. */
export function parseWriterOutput(stdout: string): WriterOutput {
  const acks: [string, bigint][] = [];
  const replayMismatches: string[] = [];
  const errors: string[] = [];
  let recovered = 0;
  let session: string | undefined;
  let inBackup = false;
  let opened = false;
  const phases: Record<string, number> = {};
  // A line without its newline was cut by the kill: ignored.
  for (const line of stdout.split('\n').slice(0, -1)) {
    const [word, a, b, c] = line.split(' ');
    if (word === 'ack' && a !== undefined && b !== undefined) acks.push([a, BigInt(b)]);
    else if (word === 'recovered') {
      recovered += 1;
      if (b !== c) replayMismatches.push(a ?? line);
    } else if (word === 'error') errors.push(line);
    else if (word === 'session') session = a;
    else if (word === 'opened') opened = true;
    else if (word === 'phase' && a !== undefined && b !== undefined) phases[a] = Number(b);
    else if (word === 'backup') inBackup = a === 'begin';
  }
  return { acks, recovered, replayMismatches, errors, session, inBackup, opened, phases };
}

/**
 * The program a crash test runs in a child process (as an ES module string, importing
 * the built packages): it waits for `go` on stdin (so it can be started ahead, warm),
 * opens the store at FULL, recovers the sessions a kill left open (printing
 * `recovered <session> <recovered state hash> <replay hash> <events replayed>`, the
 * replay folded from the stored events up to the recovered version), starts a session, takes snapshots on a short schedule and
 * records a live 60 Hz session through the recorder: two `energy.update`s per frame and
 * now and then a prompt and a token, each with an `event_id`, awaited with `append()`.
 * Only once an event is durable does it print `ack <event_id> <position>`: stdout is a
 * pipe, written synchronously, so a printed acknowledgement reaches the parent even if
 * the process is killed right after.
 */
export const CRASH_CHILD = `
const { toIsoMicros } = await import(process.env.WF_EVENTS);
const { createEventStore, createRecorder, foldEvents, stateHash } = await import(process.env.WF_EVENTSTORE);
const { openSqliteStorage } = await import(process.env.WF_SQLITE);
const { createSnapshotStore, recoverSessions, startSnapshotScheduler } = await import(process.env.WF_SNAPSHOTS);
const [path, seedText] = process.argv.slice(1);
const seed = Number(seedText);
await new Promise((resolve) => process.stdin.once('data', resolve));
const storage = await openSqliteStorage({ path, synchronous: 'full' });
if (storage.pragmas.synchronous !== 'full') throw new Error('not FULL');
const store = createEventStore({ storage });
const snapshots = createSnapshotStore(store, { fullEvery: 3, keepFull: 2 });
for (const r of await recoverSessions(snapshots, { then: 'close' })) {
  const records = await store.readStream(r.stream, { to: r.state.version }).toArray();
  const replay = {};
  for (const p of snapshots.projections) replay[p.name] = foldEvents(p, records);
  process.stdout.write(['recovered', r.sessionId, r.hash, stateHash(replay), r.eventsReplayed].join(' ') + '\\n');
}
startSnapshotScheduler(snapshots, { everyEvents: 30 + (seed % 50), everyMs: 200, pruneEveryMs: 300 });
const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
process.stdout.write('session ' + session.id + '\\n');
const recorder = createRecorder(store, { clock: 'external' });
const models = ['ollama/llama2:7b', 'ollama/mistral:7b'];
let frame = 0;
let prompt = 0;
const ack = (id) => ({ position }) => process.stdout.write('ack ' + id + ' ' + position + '\\n');
const fail = (error) => process.stdout.write('error ' + String(error && error.message) + '\\n');
const base = (id) => ({ session_id: session.id, timestamp: toIsoMicros(Date.now() * 1000), event_id: session.id + ':' + id });
setInterval(() => {
  frame += 1;
  models.forEach((model_id, i) => {
    const id = frame + '.' + i;
    const energy = ((frame * 7 + i * 13 + seed) % 97) / 10;
    recorder
      .append({ ...base(id), type: 'energy.update', frame_id: frame, data: { energy, accumulator: 0, model_id } })
      .then(ack(session.id + ':' + id), fail);
  });
  if (frame % 9 === 0) {
    const prompt_id = 'p' + ++prompt;
    const id = frame + '.p';
    recorder
      .append({ ...base(id), type: 'user.prompt', data: { prompt_id, interface: 'text', truncated: false } })
      .then(ack(session.id + ':' + id), fail);
    const tid = frame + '.t';
    recorder
      .append({ ...base(tid), type: 'ai.output', data: { prompt_id, token_index: 0, is_last: true, model_id: models[0] } })
      .then(ack(session.id + ':' + tid), fail);
  }
  recorder.endFrame();
}, 1000 / 60);
`;

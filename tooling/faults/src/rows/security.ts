import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
} from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { openArchive } from '@wirthforge/archive';
import { SYSTEM_STREAM, encodeEvent } from '@wirthforge/events';
import {
  openConnection,
  openSqliteReadOnlyStorage,
  openSqliteStorage,
} from '@wirthforge/storage-sqlite';
import { type FaultRow, type RowResult } from '../fault-row.js';
import {
  api,
  CLI_MAIN,
  DAEMON_MAIN,
  ensureDebianPackage,
  sh,
  sleep,
  startChild,
  tempDir,
  waitDaemonReady,
  type DaemonAddress,
} from '../fault-harness.js';
import { sessionEvents } from './crash-daemon.js';

/** One socket of the daemon, from `/proc/<pid>/net/*` matched to its `/proc/<pid>/fd`. */
interface SocketSeen {
  readonly proto: string;
  readonly local: string;
  readonly remote: string;
  readonly listening: boolean;
  readonly loopback: boolean;
}

/** An address of `/proc/net/tcp{,6}` (`0100007F:1F90`) as bytes and port. */
function decodeProcAddress(text: string): { bytes: number[]; port: number } {
  const [hex = '', portHex = '0'] = text.split(':');
  const bytes: number[] = [];
  // Each 32-bit word is in host (little-endian) order.
  for (let w = 0; w < hex.length; w += 8) {
    const word = hex.slice(w, w + 8);
    for (let b = 6; b >= 0; b -= 2) bytes.push(parseInt(word.slice(b, b + 2), 16));
  }
  return { bytes, port: parseInt(portHex, 16) };
}

function formatAddress(bytes: readonly number[], port: number): string {
  if (bytes.length === 4) return `${bytes.join('.')}:${port}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return `[${groups.join(':')}]:${port}`;
}

/** 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104; `unspecifiedOk` also allows 0.0.0.0 / :: (a listener's remote). */
function isLoopbackBytes(bytes: readonly number[], unspecifiedOk: boolean): boolean {
  if (bytes.every((b) => b === 0)) return unspecifiedOk;
  if (bytes.length === 4) return bytes[0] === 127;
  const head = bytes.slice(0, 10).every((b) => b === 0);
  if (head && bytes[10] === 0 && bytes[11] === 0)
    return bytes.slice(12, 15).every((b) => b === 0) && bytes[15] === 1;
  return head && bytes[10] === 0xff && bytes[11] === 0xff && bytes[12] === 127;
}

/** The daemon's network sockets now: its fds' socket inodes looked up in its netns tables. */
function daemonSockets(pid: number): SocketSeen[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  const out: SocketSeen[] = [];
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6', 'raw', 'raw6']) {
    let table: string;
    try {
      table = readFileSync(`/proc/${pid}/net/${proto}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of table.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || !inodes.has(cols[9] ?? '')) continue;
      const local = decodeProcAddress(cols[1] ?? '');
      const remote = decodeProcAddress(cols[2] ?? '');
      const listening = proto.startsWith('tcp') && cols[3] === '0A';
      out.push({
        proto,
        local: formatAddress(local.bytes, local.port),
        remote: formatAddress(remote.bytes, remote.port),
        listening,
        loopback:
          isLoopbackBytes(local.bytes, false) &&
          isLoopbackBytes(remote.bytes, listening || proto.startsWith('udp')),
      });
    }
  }
  return out;
}

/** What strace saw: each address family's calls, and the IP addresses that were not loopback. */
interface TraceFindings {
  readonly calls: number;
  readonly loopbackBinds: number;
  readonly loopbackConnects: number;
  readonly families: Record<string, number>;
  readonly outside: string[];
}

function readTrace(text: string): TraceFindings {
  const families: Record<string, number> = {};
  const outside: string[] = [];
  let calls = 0;
  let loopbackBinds = 0;
  let loopbackConnects = 0;
  for (const line of text.split('\n')) {
    const call = /\b(connect|bind|sendto|sendmsg)\(/.exec(line)?.[1];
    if (call === undefined) continue;
    calls += 1;
    const family = /sa_family=(AF_[A-Z0-9]+)/.exec(line)?.[1] ?? 'none';
    families[`${call} ${family}`] = (families[`${call} ${family}`] ?? 0) + 1;
    const ips = [
      ...[...line.matchAll(/inet_addr\("([^"]+)"\)/g)].map((m) => m[1] ?? ''),
      ...[...line.matchAll(/inet_pton\(AF_INET6, "([^"]+)"/g)].map((m) => m[1] ?? ''),
    ];
    for (const ip of ips) {
      const loopback = ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');
      if (!loopback) outside.push(line.trim().slice(0, 300));
      else if (call === 'bind') loopbackBinds += 1;
      else if (call === 'connect') loopbackConnects += 1;
    }
  }
  return { calls, loopbackBinds, loopbackConnects, families, outside };
}

/** Every regular file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.isFile()) out.push(path);
  }
  return out;
}

/** Which files under `dir` hold each needle (raw bytes). */
function scan(dir: string, needles: readonly string[]): Map<string, string[]> {
  const hits = new Map<string, string[]>(needles.map((n) => [n, []]));
  for (const file of filesUnder(dir)) {
    const bytes = readFileSync(file);
    for (const needle of needles) if (bytes.includes(needle)) hits.get(needle)?.push(file);
  }
  return hits;
}

/** Mode problems under `dir`: directories must be 0700, files 0600. Returns how many were checked. */
function checkModes(dir: string, when: string, problems: string[], checked: string[]): void {
  const walk = (path: string): void => {
    const st = statSync(path);
    const mode = st.mode & 0o777;
    const want = st.isDirectory() ? 0o700 : 0o600;
    checked.push(`${path.slice(dir.length) || '/'} ${mode.toString(8)}`);
    if (mode !== want)
      problems.push(
        `${when}: ${path} has mode ${mode.toString(8)}, not ${want.toString(8)} (${st.isDirectory() ? 'directory' : 'file'})`,
      );
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
  };
  walk(dir);
}

/** A WebSocket upgrade of `/v1/stream`: 101 if accepted, the HTTP status if refused. */
function wsUpgrade(
  base: DaemonAddress,
  query: string,
  protocols: string | undefined,
): Promise<number> {
  return new Promise((resolve) => {
    // A fresh connection each time: a server closes the socket after refusing an upgrade.
    const req = request(`${base.url}/v1/stream${query}`, {
      agent: false,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...(protocols === undefined ? {} : { 'sec-websocket-protocol': protocols }),
      },
    });
    req.on('upgrade', (_res, socket) => {
      socket.destroy();
      resolve(101);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(-1));
    req.end();
  });
}

/** Whether a TCP connection to `host:port` is accepted. */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 3000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** `wfstate` with arguments, run to its end. */
function wfstate(args: readonly string[]): ReturnType<typeof sh> {
  return sh(process.execPath, [CLI_MAIN, ...args]);
}

/** Events of a store by stream (position, event id), through the storage API. */
async function eventsByStream(path: string): Promise<Map<string, string[]>> {
  const archive = openArchive({ databasePath: path });
  const storage = await openSqliteReadOnlyStorage({ path, coldSegments: archive.coldSegments });
  const out = new Map<string, string[]>();
  try {
    for await (const r of storage.readAll()) {
      const list = out.get(r.stream) ?? [];
      list.push(`${r.position}:${r.eventId ?? ''}`);
      out.set(r.stream, list);
    }
  } finally {
    await storage.close();
    archive.close();
  }
  return out;
}

/** Seals every hot row of the database at `path` (the daemon, stopped, left the tail hot). */
async function sealEverything(path: string): Promise<void> {
  const storage = await openSqliteStorage({ path, seal: { minEvents: 1, maxAgeMs: 1 } });
  try {
    for (let i = 0; i < 2400; i++) {
      const hot = await storage.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(hot.n) === 0) return;
      await sleep(25);
    }
    throw new Error(`the events of ${path} were not all sealed after 60 s`);
  } finally {
    await storage.close();
  }
}

/**
 * Whether the needles found in the database at `path` are all in its one documented
 * residue, the `purge` lines of its audit table: a copy without those (secure_delete,
 * VACUUM) must hold none of them.
 */
function onlyInAuditLine(
  path: string,
  copy: string,
  secret: string,
  needles: readonly string[],
): boolean {
  copyFileSync(path, copy);
  const c = openConnection(copy, {});
  try {
    c.pragma('secure_delete = ON');
    c.prepare("delete from audit where action = 'purge'").run();
    c.exec('VACUUM');
  } finally {
    c.close();
  }
  const bytes = readFileSync(copy);
  return [secret, ...needles].every((n) => !bytes.includes(n));
}

/**
 * Appends `state.snapshot_created` events naming `sessions` to the `system` stream, as
 * stores before the per-session marker streams wrote them (a database of an older
 * version): a purge must leave none of them naming its session.
 */
async function appendLegacyMarkers(path: string, sessions: readonly string[]): Promise<void> {
  const storage = await openSqliteStorage({ path, seal: false });
  try {
    await storage.appendBatch([
      {
        stream: SYSTEM_STREAM,
        expectedVersion: 'any',
        events: sessions.map((session, i) =>
          encodeEvent(
            {
              session_id: session,
              timestamp: new Date().toISOString(),
              type: 'state.snapshot_created',
              data: { snapshot_id: 900_000 + i, snapshot_type: 'periodic', state_size_bytes: 64 },
            },
            { includeSessionId: true },
          ),
        ),
      },
    ]);
  } finally {
    await storage.close();
  }
}

/** The events of the `system` stream (hot or sealed, read through the storage) whose bytes hold `needle`. */
async function systemEventsHolding(path: string, needle: string): Promise<number> {
  const storage = await openSqliteReadOnlyStorage({ path });
  const bytes = Buffer.from(needle);
  let n = 0;
  try {
    for await (const r of storage.readStream(SYSTEM_STREAM))
      if (Buffer.from(r.payload).includes(bytes)) n += 1;
  } finally {
    await storage.close();
  }
  return n;
}

/** Where in the database at `path` a needle is held: `table.column (rows)`. */
function whereHeld(path: string, needle: string): string[] {
  const c = openConnection(path, { readonly: true, fileMustExist: true });
  const out: string[] = [];
  try {
    const tables = c
      .prepare("select name from sqlite_master where type = 'table'")
      .pluck()
      .all() as string[];
    for (const table of tables) {
      const columns = c
        .prepare(`select name from pragma_table_info(?)`)
        .pluck()
        .all(table) as string[];
      for (const column of columns) {
        const n = c
          .prepare(
            `select count(*) from "${table}" where instr(cast("${column}" as blob), cast(? as blob)) > 0`,
          )
          .pluck()
          .get(needle) as number;
        if (n > 0) out.push(`${table}.${column} (${n} rows)`);
        if (n > 0 && table === 'events') {
          const rows = c
            .prepare(
              `select s.name as stream, t.name as type, e.position as position from events e join streams s on s.id = e.stream_id join event_types t on t.id = e.type_id where instr(cast(e."${column}" as blob), cast(? as blob)) > 0 limit 3`,
            )
            .all(needle) as { stream: string; type: string; position: number }[];
          out.push(...rows.map((r) => `event ${r.type} at position ${r.position} of ${r.stream}`));
        }
      }
    }
  } finally {
    c.close();
  }
  return out;
}

/**
 * Purges `secret` with `wfstate purge`, then scans every file of the data directory for
 * its id and `needles`: only the purge's own audit line may still name the id.
 */
async function purgeAndScan(
  label: string,
  data: string,
  scratch: string,
  secret: string,
  needles: readonly string[],
  result: RowResult,
): Promise<void> {
  const db = join(data, 'state.db');
  const before = scan(data, [secret, ...needles]);
  if ((before.get(secret) ?? []).length === 0)
    result.problems.push(
      `purge (${label}): before it no file holds the session id: the scan cannot see it (control)`,
    );
  const othersBefore = await eventsByStream(db);
  othersBefore.delete(`session-${secret}`);
  // The session's snapshot markers, in its own stream (they go with it).
  const markerStream = `snapshots:session-${secret}`;
  const ownMarkers = (othersBefore.get(markerStream) ?? []).length;
  othersBefore.delete(markerStream);
  const legacyBefore = await systemEventsHolding(db, secret);
  const purge = wfstate(['purge', secret, '--yes', '--json', '--data-dir', data]);
  result.runs += 1;
  if (purge.status !== 0)
    result.problems.push(
      `wfstate purge (${label}): exit ${purge.status} ${purge.stderr.slice(0, 300)}`,
    );
  let redacted = -1;
  try {
    redacted = (JSON.parse(purge.stdout) as { rows: { redactedMarkers: number } }).rows
      .redactedMarkers;
  } catch {
    result.problems.push(
      `wfstate purge (${label}) --json: not JSON: ${purge.stdout.slice(0, 200)}`,
    );
  }
  if (redacted !== legacyBefore)
    result.problems.push(
      `purge (${label}): ${legacyBefore} system-stream markers named the session, the purge redacted ${redacted}`,
    );
  const legacyAfter = await systemEventsHolding(db, secret);
  if (legacyAfter > 0)
    result.problems.push(
      `purge (${label}): ${legacyAfter} events of the system stream still name the session`,
    );
  const after = scan(data, [secret, ...needles]);
  // The purge's own audit line names the stream it removed (ids and counts, no content:
  // storage-sqlite's README). A copy without it must hold nothing.
  const auditOnly = onlyInAuditLine(db, join(scratch, 'audit-check.db'), secret, needles);
  for (const [needle, files] of after)
    for (const file of files)
      if (!(file === db && needle === secret && auditOnly))
        result.problems.push(
          `purge (${label}): afterwards ${file} still holds ${needle}${file === db ? `: ${whereHeld(db, needle).join(', ') || 'in no row (free or unused bytes)'}` : ''}`,
        );
  const othersAfter = await eventsByStream(db);
  for (const [stream, list] of othersBefore) {
    const kept = new Set(othersAfter.get(stream) ?? []);
    const missing = list.filter((x) => !kept.has(x)).length;
    result.lost += missing;
    if (missing > 0)
      result.problems.push(`purge (${label}) removed ${missing} events of ${stream}`);
  }
  if (othersAfter.has(`session-${secret}`))
    result.problems.push(`purge (${label}): the purged session is still readable`);
  if (othersAfter.has(markerStream))
    result.problems.push(`purge (${label}): the session's marker stream is still readable`);
  const files = filesUnder(data);
  result.notes.push(
    `purge (${label}): before, the session id was in ${(before.get(secret) ?? []).length} files, its token text in ${(before.get(needles[0] ?? '') ?? []).length}, its snapshot markers in its own stream (${ownMarkers}) and ${legacyBefore} in the system stream (as older stores wrote them); after \`wfstate purge\`, of ${files.length} files (${files.map((f) => f.slice(data.length + 1)).join(', ')}) none holds the token text or the marker (in the session's user id, events and rows), the id ${auditOnly ? "only in the purge's own audit line (a copy without it holds it nowhere)" : 'ELSEWHERE TOO'}; the marker stream gone, ${redacted} system-stream markers redacted, ${legacyAfter} left naming it; the other streams' ${[...othersBefore.values()].reduce((n, l) => n + l.length, 0)} events intact`,
  );
}

/** Token checks: every route, every way of presenting no or a wrong token, must get 401. */
async function checkTokens(base: DaemonAddress, session: string, result: RowResult): Promise<void> {
  const wrong = base.token.slice(0, -1) + (base.token.endsWith('0') ? '1' : '0');
  const presentations: [
    string,
    { token?: string | null; headers?: Record<string, string> },
    string,
  ][] = [
    ['no token', { token: null }, ''],
    ['a wrong token (one character changed)', { token: wrong }, ''],
    ['an empty bearer', { token: null, headers: { authorization: 'Bearer ' } }, ''],
    [
      'the right token under Basic',
      { token: null, headers: { authorization: `Basic ${base.token}` } },
      '',
    ],
    ['a wrong ?token=', { token: null }, `?token=${wrong}`],
  ];
  const probe = sessionEvents(session, 1, 5).slice(0, 3);
  const routes: [string, string, unknown][] = [
    ['GET', '/v1/sessions', undefined],
    ['POST', '/v1/sessions', { userId: 'intruder' }],
    ['POST', `/v1/sessions/${session}/events`, { events: probe }],
    ['GET', `/v1/sessions/${session}/events`, undefined],
    ['GET', `/v1/sessions/${session}/export`, undefined],
    ['GET', '/v1/user', undefined],
    ['POST', '/v1/admin/append', { stream: 'intruder-1', expectedVersion: 'any', events: probe }],
    ['GET', '/metrics', undefined],
    ['GET', '/healthz', undefined],
    ['GET', '/readyz', undefined],
  ];
  let refused = 0;
  let requests = 0;
  for (const [method, path, body] of routes) {
    for (const [name, options, query] of presentations) {
      requests += 1;
      const answer = await api(base, method, `${path}${query}`, {
        ...options,
        ...(body === undefined ? {} : { body }),
      });
      if (answer.status === 401) refused += 1;
      else
        result.problems.push(
          `${method} ${path} with ${name}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 160)}, not 401`,
        );
    }
  }
  const ws: [string, string, string | undefined, number][] = [
    ['WebSocket without a token', '', 'wfstate.v1', 401],
    ['WebSocket with a wrong bearer subprotocol', '', `wfstate.v1, bearer.${wrong}`, 401],
    ['WebSocket with a wrong ?token=', `?token=${wrong}`, 'wfstate.v1', 401],
    ['WebSocket with the right token (control)', '', `wfstate.v1, bearer.${base.token}`, 101],
  ];
  for (const [name, query, protocols, want] of ws) {
    requests += 1;
    const status = await wsUpgrade(base, query, protocols);
    if (status === want) refused += want === 401 ? 1 : 0;
    else result.problems.push(`${name}: answered ${status}, not ${want}`);
  }
  const control = await api(base, 'GET', '/v1/sessions?user=intruder');
  const intruders = (control.body as { sessions?: unknown[] }).sessions;
  if (control.status !== 200 || !Array.isArray(intruders))
    result.problems.push(`control with the right token: ${control.status}, not 200`);
  else if (intruders.length > 0)
    result.problems.push(`a refused request created ${intruders.length} sessions of user intruder`);
  const appended = await api(base, 'GET', '/v1/sessions/intruder-1/events');
  if (
    appended.status === 200 &&
    ((appended.body as { events?: unknown[] }).events ?? []).length > 0
  )
    result.problems.push('a refused admin append stored events');
  result.runs += requests;
  result.notes.push(
    `access token: ${refused} of ${requests - 1} requests without it, with a wrong one (one character changed, empty, under Basic, in ?token=) refused with 401 over ${routes.length} routes (health, readiness and metrics included) and the WebSocket upgrade; the right token upgraded (control); nothing of the refused writes was stored`,
  );
}

/**
 * The promises of the design's security section, checked on a real `wfstated`: the
 * token, loopback only (the bound address, every socket it holds, every connect/bind it
 * makes under strace for a whole simulated session), owner-only files, a purge that
 * leaves no byte of the session in any file, exports without content unless asked.
 */
export const securityRow: FaultRow = {
  id: 'security',
  fault:
    'token, loopback only, no outbound socket (strace), file modes, purge leaves no trace, redacted export',
  async run(ctx, result) {
    const seconds = ctx.long ? 60 : 6;
    const tmp = tempDir('security');
    const data = join(tmp.dir, 'data');
    const traceFile = join(tmp.dir, 'daemon.strace');
    const mark = `wfsec${randomBytes(6).toString('hex')}`;
    const promptText = `${mark}-prompt-text`;
    const tokenText = `${mark}-tok`;
    const withStrace = ensureDebianPackage('strace', 'strace', ctx.log);
    if (!withStrace)
      result.notes.push('!!! strace could not be had: the outbound check used /proc sampling only');
    const daemonArgs = [
      DAEMON_MAIN,
      '--data-dir',
      data,
      '--port',
      '0',
      '--log-level',
      'warn',
      '--simulate',
      '--simulate-seconds',
      String(seconds),
      '--store-content',
    ];
    const child = withStrace
      ? startChild(
          'strace',
          [
            '-f',
            '-qq',
            '-e',
            'trace=connect,bind,sendto,sendmsg',
            '-o',
            traceFile,
            process.execPath,
            ...daemonArgs,
          ],
          { XDG_CONFIG_HOME: data },
        )
      : startChild(process.execPath, daemonArgs, { XDG_CONFIG_HOME: data });
    const started = performance.now();
    let daemonPid: number | undefined;
    try {
      const base = await waitDaemonReady(data, child, 120_000, withStrace);
      const info = JSON.parse(readFileSync(join(data, 'daemon.json'), 'utf8')) as {
        pid: number;
        host: string;
        port: number;
      };
      daemonPid = info.pid;
      // Sockets of the daemon, sampled through the whole session.
      const sockets = new Map<string, SocketSeen>();
      let samples = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          try {
            for (const s of daemonSockets(info.pid))
              sockets.set(`${s.proto} ${s.local} ${s.remote}`, s);
            samples += 1;
          } catch {
            // the daemon is exiting
          }
          await sleep(100);
        }
      })();

      // The bound address: daemon.json, the listening sockets, and a connection from outside loopback.
      if (info.host !== '127.0.0.1')
        result.problems.push(`daemon.json host is ${info.host}, not 127.0.0.1`);
      const listening = daemonSockets(info.pid).filter((s) => s.listening);
      if (listening.length === 0)
        result.problems.push('no listening socket found in /proc for the daemon');
      for (const s of listening)
        if (!s.loopback)
          result.problems.push(`the daemon listens on ${s.proto} ${s.local}, not loopback`);
      const external = Object.values(networkInterfaces())
        .flat()
        .find((a) => a !== undefined && !a.internal && a.family === 'IPv4');
      if (external !== undefined) {
        if (await reachable(external.address, info.port))
          result.problems.push(
            `port ${info.port} answers on ${external.address}: not loopback only`,
          );
        result.notes.push(
          `listening on ${listening.map((s) => s.local).join(', ')} (daemon.json host ${info.host}); a connection to ${external.address}:${info.port} (this machine's non-loopback address) was refused`,
        );
      } else {
        result.notes.push(
          `listening on ${listening.map((s) => s.local).join(', ')}; no non-loopback interface here to try`,
        );
      }
      result.runs += 1;

      // The simulated session starts just after readiness.
      let simulated: string | undefined;
      let sessions = await api(base, 'GET', '/v1/sessions?status=active');
      for (let i = 0; i < 200 && simulated === undefined; i++) {
        sessions = await api(base, 'GET', '/v1/sessions?status=active');
        simulated = (
          (sessions.body as { sessions?: { session?: string; id?: string }[] }).sessions ?? []
        )
          .map((s) => s.session ?? s.id)
          .find((s) => s !== undefined);
        if (simulated === undefined) await sleep(50);
      }
      if (simulated === undefined)
        throw new Error(`no simulated session: ${JSON.stringify(sessions.body).slice(0, 300)}`);
      await checkTokens(base, simulated, result);

      // A session with content: prompt text (always hashed by the daemon) and token text (kept: --store-content).
      const start = await api(base, 'POST', '/v1/sessions', { body: { userId: `u-${mark}` } });
      const secret = (start.body as { session?: string }).session;
      if (start.status !== 201 || secret === undefined)
        throw new Error(`start session: ${start.status}`);
      const events = sessionEvents(secret, 3, 77).map((e) => {
        const ev = e as unknown as { type: string; data: Record<string, unknown> };
        if (ev.type === 'user.prompt') return { ...ev, data: { ...ev.data, text: promptText } };
        if (ev.type === 'ai.output') return { ...ev, data: { ...ev.data, token: tokenText } };
        return ev;
      });
      const tokens = events.filter((e) => e.type === 'ai.output').length;
      const prompts = events.filter((e) => e.type === 'user.prompt').length;
      const ingest = await api(base, 'POST', `/v1/sessions/${secret}/events`, { body: { events } });
      if (ingest.status !== 200)
        throw new Error(`ingest: ${ingest.status} ${JSON.stringify(ingest.body).slice(0, 300)}`);
      result.acknowledged += events.length;
      const end = await api(base, 'POST', `/v1/sessions/${secret}/end`, { body: {} });
      if (end.status !== 200) throw new Error(`end session: ${end.status}`);
      if (tokens === 0 || prompts === 0)
        result.problems.push(`the content session has ${tokens} tokens and ${prompts} prompts`);
      // A second one, to be archived before it is purged.
      const mark2 = `wfsec${randomBytes(6).toString('hex')}`;
      const token2 = `${mark2}-tok`;
      const start2 = await api(base, 'POST', '/v1/sessions', { body: { userId: `u-${mark2}` } });
      const archivedSecret = (start2.body as { session?: string }).session;
      if (start2.status !== 201 || archivedSecret === undefined)
        throw new Error(`start session: ${start2.status}`);
      const events2 = sessionEvents(archivedSecret, 2, 78).map((e) => {
        const ev = e as unknown as { type: string; data: Record<string, unknown> };
        return ev.type === 'ai.output' ? { ...ev, data: { ...ev.data, token: token2 } } : ev;
      });
      const ingest2 = await api(base, 'POST', `/v1/sessions/${archivedSecret}/events`, {
        body: { events: events2 },
      });
      if (ingest2.status !== 200) throw new Error(`ingest: ${ingest2.status}`);
      result.acknowledged += events2.length;
      if (
        (await api(base, 'POST', `/v1/sessions/${archivedSecret}/end`, { body: {} })).status !== 200
      )
        throw new Error('end of the second session refused');

      // Modes while the daemon runs (WAL, shm and lock exist now).
      const modeProblems: string[] = [];
      const checked: string[] = [];
      checkModes(data, 'while running', modeProblems, checked);

      // The whole simulated session, then a clean stop.
      const remaining = seconds * 1000 + 1500 - (performance.now() - started);
      if (remaining > 0) await sleep(remaining);
      process.kill(info.pid, 'SIGTERM');
      const exit = await child.closed;
      sampling = false;
      await sampler;
      if (exit.code !== 0)
        result.problems.push(
          `the daemon stopped with ${exit.code ?? exit.signal}: ${child.stderr.slice(-500)}`,
        );

      // Outbound: every socket the daemon held, and every connect/bind strace saw.
      const outsideSockets = [...sockets.values()].filter((s) => !s.loopback);
      for (const s of outsideSockets.slice(0, 5))
        result.problems.push(
          `the daemon held a socket off loopback: ${s.proto} ${s.local} -> ${s.remote}`,
        );
      result.runs += samples;
      let traceNote = 'strace not run';
      if (withStrace) {
        const trace = readTrace(existsSync(traceFile) ? readFileSync(traceFile, 'utf8') : '');
        for (const line of trace.outside.slice(0, 5))
          result.problems.push(`off-loopback address in a socket call: ${line}`);
        if (trace.loopbackBinds === 0)
          result.problems.push(
            'strace saw no bind to loopback: the trace did not capture the daemon',
          );
        traceNote = `strace -f (connect, bind, sendto, sendmsg) over the daemon's whole life: ${trace.calls} calls (${Object.entries(
          trace.families,
        )
          .map(([k, v]) => `${k} ${v}`)
          .join(
            ', ',
          )}), ${trace.loopbackBinds} binds and ${trace.loopbackConnects} connects to loopback, ${trace.outside.length} to any other address`;
      }
      result.notes.push(
        `a ${seconds} s simulated session: ${traceNote}; /proc/<pid>/fd sockets sampled ${samples} times: ${sockets.size} distinct sockets, ${outsideSockets.length} off loopback`,
      );

      const db = join(data, 'state.db');
      // Export: no prompt or token text unless --include-content.
      const redacted = wfstate(['export', secret, '--data-dir', data]);
      const all = wfstate(['export', '--all', '--format', 'ndjson', '--data-dir', data]);
      const full = wfstate(['export', secret, '--include-content', '--data-dir', data]);
      result.runs += 3;
      for (const [name, out] of [
        ['export', redacted],
        ['export --all', all],
      ] as const) {
        if (out.status !== 0)
          result.problems.push(`wfstate ${name}: exit ${out.status} ${out.stderr.slice(0, 300)}`);
        else if (!out.stdout.includes(secret))
          result.problems.push(`wfstate ${name} does not hold the session (control)`);
        for (const text of [tokenText, promptText])
          if (out.stdout.includes(text))
            result.problems.push(`wfstate ${name} holds content ${text} without --include-content`);
      }
      if (!full.stdout.includes(tokenText))
        result.problems.push(
          'wfstate export --include-content lacks the token text: the export check cannot see content',
        );
      if (full.stdout.includes(promptText))
        result.problems.push('the prompt text reached the store (it must be hashed)');
      result.notes.push(
        `export: ${tokens} token texts and ${prompts} prompt texts absent from \`export\` and \`export --all\`; \`--include-content\` holds the token text (control); prompt text never reaches the store (hashed at ingest)`,
      );

      // Purge: every file of the data directory scanned for the session's id and its content.
      const before = scan(data, [promptText]);
      if ((before.get(promptText) ?? []).length > 0)
        result.problems.push(
          `prompt text found on disk in ${(before.get(promptText) ?? []).join(', ')}`,
        );
      // Markers as older stores wrote them (in `system`): the first purge meets them hot,
      // the second (after everything is sealed) inside a segment.
      await appendLegacyMarkers(db, [secret, archivedSecret, secret]);
      await purgeAndScan('not archived', data, tmp.dir, secret, [tokenText, mark], result);

      // Archive partitions (the simulated session's tail sealed first: only sealed sessions move), then the modes of everything.
      await sealEverything(db);
      const archived = wfstate([
        'archive',
        'run',
        '--min-age-days',
        '0',
        '--json',
        '--data-dir',
        data,
      ]);
      if (archived.status !== 0)
        result.problems.push(
          `wfstate archive run: exit ${archived.status} ${archived.stderr.slice(0, 300)}`,
        );
      const partitions = existsSync(join(data, 'archive'))
        ? readdirSync(join(data, 'archive'))
        : [];
      if (!partitions.some((n) => n.endsWith('.db')))
        result.problems.push(`no archive partition was written (${archived.stdout.slice(0, 200)})`);
      const inPartition = scan(join(data, 'archive'), [archivedSecret]).get(archivedSecret) ?? [];
      if (inPartition.length === 0)
        result.problems.push(
          'the second session was not archived: the archived purge case did not run',
        );
      else
        await purgeAndScan(
          `archived in ${inPartition.map((f) => f.slice(data.length + 1)).join(', ')}`,
          data,
          tmp.dir,
          archivedSecret,
          [token2, mark2],
          result,
        );
      checkModes(data, 'after stop, purge and archive', modeProblems, checked);
      result.runs += checked.length;
      result.problems.push(...modeProblems);
      result.notes.push(
        `modes (umask ${process.umask().toString(8).padStart(3, '0')}): ${checked.length} checks, ${modeProblems.length} wrong; seen ${[...new Set(checked)].join(', ')}`,
      );
    } finally {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        // Under strace the daemon is strace's child: end both.
        if (daemonPid !== undefined) {
          try {
            process.kill(daemonPid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        child.process.kill('SIGKILL');
      }
      await child.closed;
      tmp.remove();
    }
  },
};

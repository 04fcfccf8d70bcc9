/** The SESSION argument: a session id (`20250817T194800Z_001`) or its stream name. */
import { isSessionId, sessionStream } from '@wirthforge/events';
import type { EventStorage } from '@wirthforge/storage';

import { CliError } from './errors.js';

/** A session named on the command line, found in the store. */
export interface SessionRef {
  readonly sessionId: string;
  readonly stream: string;
  readonly version: bigint;
}

/** Parses a session argument into its id and stream, refusing anything else. */
export function parseSessionArg(arg: string): { sessionId: string; stream: string } {
  const id = arg.startsWith('session-') ? arg.slice('session-'.length) : arg;
  if (!isSessionId(id)) {
    throw new CliError('usage', `${JSON.stringify(arg)} is not a session id`, {
      hint: 'session ids look like 20250817T194800Z_001; `wfstate sessions list` shows them',
    });
  }
  return { sessionId: id, stream: sessionStream(id) };
}

/** Finds a session's stream; `not_found` when it has no events. */
export async function findSession(storage: EventStorage, arg: string): Promise<SessionRef> {
  const { sessionId, stream } = parseSessionArg(arg);
  const version = await storage.streamVersion(stream);
  if (version === 0n) {
    throw new CliError('not_found', `no session ${sessionId} in this store`, {
      hint: '`wfstate sessions list` shows the sessions; check --data-dir',
    });
  }
  return { sessionId, stream, version };
}

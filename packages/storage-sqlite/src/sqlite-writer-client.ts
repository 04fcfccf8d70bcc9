import { Worker } from 'node:worker_threads';

import { StorageError, storageErrorFromJSON } from '@wirthforge/storage';
import type {
  AppendBatchResult,
  RowWrite,
  StreamAppend,
  StreamAppendResult,
} from '@wirthforge/storage';

import type { SqlitePragmaReport } from './sqlite-pragmas.js';
import { workerExecArgv } from './worker-exec-argv.js';
import { encodeAppendRequest } from './sqlite-writer-protocol.js';
import type {
  AppendResponse,
  CheckpointMode,
  OpenRequest,
  CheckpointResult,
  WriterRequest,
  WriterResponse,
  WriterWorkerData,
} from './sqlite-writer-protocol.js';

/**
 * The worker runs compiled JavaScript: `../dist/` resolves to the package's build output
 * both from `src/` (tests run from source) and from `dist/` itself.
 */
const WORKER_URL = new URL('../dist/sqlite-writer-worker.bundle.js', import.meta.url);

interface Pending {
  readonly resolve: (response: WriterResponse) => void;
  readonly reject: (error: StorageError) => void;
}

/** A writer thread that is loading its modules; see {@link SqliteWriterClient.spawn}. */
export interface WriterStart {
  /** Lets the thread open its connection; resolves once it is ready. */
  open(): Promise<{ client: SqliteWriterClient; ready: WriterReady }>;
  /** Stops the thread (a start that will not be opened). */
  abort(): Promise<void>;
}

/** What the writer reported when it started. */
export interface WriterReady {
  readonly pragmas: SqlitePragmaReport;
  readonly headPosition: number;
}

/**
 * Main-thread handle of the writer thread: one message per request, one promise per
 * request, settled by the writer's answer. If the thread dies, every pending request is
 * rejected (never resolved) and later ones fail with the same error.
 */
export class SqliteWriterClient {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private failure: StorageError | undefined;
  private closing = false;
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    private readonly path: string,
  ) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (response: WriterResponse) => this.onMessage(response));
    worker.on('error', (error) => {
      this.fail(
        new StorageError('io', `the writer of ${path} failed: ${error.message}`, { cause: error }),
      );
    });
    worker.on('messageerror', (error) => {
      this.fail(
        new StorageError('io', `the writer of ${path} sent an unreadable message`, {
          cause: error,
        }),
      );
    });
    worker.on('exit', (code) => {
      this.fail(
        new StorageError(
          'closed',
          this.closing
            ? `the writer of ${path} is closed`
            : `the writer of ${path} stopped unexpectedly (exit code ${code}); ` +
                'requests in flight were not acknowledged',
        ),
      );
    });
  }

  /**
   * Starts the writer thread, which loads its modules while the caller goes on (the
   * storage migrates the schema meanwhile); {@link WriterStart.open} then lets it open its
   * connection and waits until it is configured.
   */
  static spawn(data: WriterWorkerData): WriterStart {
    const worker = new Worker(WORKER_URL, { workerData: data, execArgv: workerExecArgv() });
    let early: StorageError | undefined;
    const onEarlyExit = (code: number): void => {
      early ??= new StorageError(
        'io',
        `the writer of ${data.path} exited while starting (code ${code})`,
      );
    };
    const onEarlyError = (error: Error): void => {
      early ??= new StorageError(
        'io',
        `the writer of ${data.path} failed to start: ${error.message}`,
        { cause: error },
      );
    };
    worker.on('exit', onEarlyExit);
    worker.on('error', onEarlyError);
    const ready = new Promise<{ client: SqliteWriterClient; ready: WriterReady }>(
      (resolve, reject) => {
        const fail = (code: number): void =>
          reject(
            early ??
              new StorageError(
                'io',
                `the writer of ${data.path} exited while starting (code ${code})`,
              ),
          );
        worker.once('exit', fail);
        worker.once('message', (message: WriterResponse) => {
          worker.off('exit', onEarlyExit);
          worker.off('error', onEarlyError);
          worker.off('exit', fail);
          if (message.type === 'ready') {
            const client = new SqliteWriterClient(worker, data.path);
            resolve({
              client,
              ready: { pragmas: message.pragmas, headPosition: message.headPosition },
            });
          } else if (message.type === 'init-failed') {
            reject(storageErrorFromJSON(message.error));
          } else {
            reject(
              new StorageError(
                'io',
                `the writer of ${data.path} sent ${message.type} before ready`,
              ),
            );
            void worker.terminate();
          }
        });
      },
    );
    // Settled through `open`; a thread aborted before it is never awaited.
    ready.catch(() => undefined);
    let opened = false;
    return {
      open: () => {
        if (!opened) {
          opened = true;
          const open: OpenRequest = { type: 'open' };
          if (early === undefined) worker.postMessage(open);
        }
        return ready;
      },
      abort: async () => {
        await worker.terminate();
      },
    };
  }

  /** Starts the writer thread and waits until its connection is open and configured. */
  static start(
    data: WriterWorkerData,
  ): Promise<{ client: SqliteWriterClient; ready: WriterReady }> {
    return SqliteWriterClient.spawn(data).open();
  }

  /** The error that stopped the writer, if it stopped. */
  get stopped(): StorageError | undefined {
    return this.failure;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this.pending.size;
  }

  private onMessage(response: WriterResponse): void {
    if (response.type === 'ready' || response.type === 'init-failed') return;
    const pending = this.pending.get(response.id);
    if (pending === undefined) return;
    this.pending.delete(response.id);
    if (response.type === 'failed') pending.reject(storageErrorFromJSON(response.error));
    else pending.resolve(response);
  }

  private fail(error: StorageError): void {
    this.failure ??= error;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(this.failure);
  }

  private request(message: WriterRequest, transfer: ArrayBuffer[] = []): Promise<WriterResponse> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(message.id, { resolve, reject });
      try {
        this.worker.postMessage(message, transfer);
      } catch (error) {
        this.pending.delete(message.id);
        reject(
          new StorageError('io', `cannot send to the writer of ${this.path}`, { cause: error }),
        );
      }
    });
  }

  /** Sends one validated batch and resolves after the writer committed it. */
  async append(
    appends: readonly StreamAppend[],
    writes: readonly RowWrite[],
  ): Promise<AppendBatchResult> {
    const { message, transfer } = encodeAppendRequest(this.nextId++, appends, writes);
    const response = (await this.request(message, transfer)) as AppendResponse;
    const streams: StreamAppendResult[] = [];
    let e = 0;
    for (let s = 0; s < appends.length; s++) {
      const append = appends[s]!;
      const positions = new Array<bigint>(append.events.length);
      for (let i = 0; i < positions.length; i++) positions[i] = BigInt(response.positions[e++]!);
      streams.push({
        stream: append.stream,
        nextExpectedVersion: BigInt(response.nextVersions[s]!),
        positions,
      });
    }
    return {
      streams,
      lastPosition: BigInt(response.lastPosition),
      writes: response.writes.map((w) => ({
        changes: w.changes,
        insertedId: w.insertedId === null ? null : BigInt(w.insertedId),
      })),
    };
  }

  /** Runs a WAL checkpoint on the write connection. */
  async checkpoint(mode: CheckpointMode): Promise<CheckpointResult> {
    const response = await this.request({ type: 'checkpoint', id: this.nextId++, mode });
    if (response.type !== 'checkpointed') throw new StorageError('io', 'unexpected writer answer');
    return response.result;
  }

  /**
   * Closes the write connection after every request sent before (the writer handles
   * messages in order) and waits for the thread to exit.
   */
  async close(): Promise<void> {
    if (this.closing) {
      await this.exited;
      return;
    }
    this.closing = true;
    if (this.failure === undefined) {
      try {
        await this.request({ type: 'close', id: this.nextId++ });
      } finally {
        await this.exited;
      }
    }
    await this.exited;
  }

  /** Stops the thread at once, as a crash would (pending requests are rejected). */
  terminate(): Promise<number> {
    return this.worker.terminate();
  }
}

/** Where an export goes: a file (written with backpressure, then renamed into place) or stdout. */
import { createWriteStream, rmSync } from 'node:fs';
import type { WriteStream } from 'node:fs';

import type { CliOutput } from './cli-io.js';
import { publishFile, temporaryBeside } from './atomic-file.js';

/** A buffered text sink. */
export interface OutputSink {
  write(text: string): void | Promise<void>;
  /** Flushes and, for a file, renames it into place. */
  finish(): Promise<void>;
  /** Drops a partial file. */
  abort(): void;
}

const CHUNK = 1 << 16;

/** A sink on a file: complete or absent, never half-written. */
export function fileSink(path: string): OutputSink {
  const temporary = temporaryBeside(path, 'part');
  const stream: WriteStream = createWriteStream(temporary, { mode: 0o600 });
  let buffer = '';
  const flush = async (): Promise<void> => {
    if (buffer === '') return;
    const text = buffer;
    buffer = '';
    if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
  };
  return {
    write(text) {
      buffer += text;
      return buffer.length >= CHUNK ? flush() : undefined;
    },
    async finish() {
      await flush();
      await new Promise<void>((resolve, reject) =>
        stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
      publishFile(temporary, path);
    },
    abort() {
      stream.destroy();
      rmSync(temporary, { force: true });
    },
  };
}

/** A sink on the CLI's stdout. */
export function stdoutSink(out: CliOutput): OutputSink {
  let buffer = '';
  return {
    write(text) {
      buffer += text;
      if (buffer.length >= CHUNK) {
        out.write(buffer);
        buffer = '';
      }
    },
    finish() {
      if (buffer !== '') out.write(buffer);
      buffer = '';
      return Promise.resolve();
    },
    abort() {
      buffer = '';
    },
  };
}

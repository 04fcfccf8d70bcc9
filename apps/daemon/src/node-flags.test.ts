import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DAEMON_ENV,
  DAEMON_NODE_FLAGS,
  WORKER_NODE_FLAGS,
  daemonShebang,
  missingNodeFlags,
} from './node-flags.js';

describe('missingNodeFlags', () => {
  it('gives every daemon flag when none is on the command line', () => {
    expect(missingNodeFlags([], undefined)).toEqual([...DAEMON_NODE_FLAGS]);
  });

  it('leaves out flags given on the command line or in NODE_OPTIONS, in either spelling', () => {
    expect(missingNodeFlags(['--max_semi_space_size=8'], undefined)).toEqual([
      '--max-old-space-size=1024',
    ]);
    expect(missingNodeFlags([], '--enable-source-maps --max-old-space-size=1024')).toEqual([
      '--max-semi-space-size=1',
    ]);
  });
});

describe('the bin', () => {
  it('gives node the same flags and environment in its shebang', () => {
    const firstLine = readFileSync(new URL('./main.ts', import.meta.url), 'utf8').split('\n')[0];
    expect(firstLine).toBe(daemonShebang());
    expect(firstLine).toBe(
      '#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=1 --max-old-space-size=1024',
    );
  });

  it('sizes the workers below the main thread, and caps malloc arenas', () => {
    const old = (flags: readonly string[]) =>
      Number(/--max-old-space-size=(\d+)/.exec(flags.join(' '))?.[1]);
    expect(old(WORKER_NODE_FLAGS)).toBeLessThan(old(DAEMON_NODE_FLAGS));
    expect(DAEMON_ENV).toEqual({ MALLOC_ARENA_MAX: '2' });
  });
});

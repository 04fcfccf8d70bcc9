import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DAEMON_NODE_FLAGS, missingNodeFlags } from './node-flags.js';

describe('missingNodeFlags', () => {
  it('gives every daemon flag when none is on the command line', () => {
    expect(missingNodeFlags([], undefined)).toEqual([...DAEMON_NODE_FLAGS]);
  });

  it('leaves out flags given on the command line or in NODE_OPTIONS, in either spelling', () => {
    expect(missingNodeFlags(['--max_semi_space_size=8'], undefined)).toEqual([
      '--max-old-space-size=1024',
    ]);
    expect(missingNodeFlags([], '--enable-source-maps --max-old-space-size=1024')).toEqual([
      '--max-semi-space-size=2',
    ]);
  });
});

describe('the bin', () => {
  it('gives node the same flags in its shebang', () => {
    const firstLine = readFileSync(new URL('./main.ts', import.meta.url), 'utf8').split('\n')[0];
    expect(firstLine).toBe(`#!/usr/bin/env -S node ${DAEMON_NODE_FLAGS.join(' ')}`);
  });
});

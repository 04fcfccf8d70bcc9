import { describe, expect, it } from 'vitest';
import { ProgressLine } from './progress-line.js';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { isTTY, writes, write: (text: string) => writes.push(text) };
}

describe('ProgressLine', () => {
  it('writes nothing when the stream is not a terminal', () => {
    const out = sink(false);
    const line = new ProgressLine(out);
    line.update('frame 1', true);
    line.clear();
    expect(out.writes).toEqual([]);
  });

  it('redraws in place on a terminal, throttled unless forced, and erases at the end', () => {
    const out = sink(true);
    const line = new ProgressLine(out, 60_000);
    line.update('frame 1');
    line.update('frame 2');
    line.update('frame 3', true);
    line.clear();
    expect(out.writes).toEqual(['\r\x1b[2Kframe 1', '\r\x1b[2Kframe 3', '\r\x1b[2K']);
  });
});

import { describe, expect, it } from 'vitest';

import { AppendRate } from './append-rate.js';

describe('AppendRate', () => {
  it('counts the events of the window and forgets older ones', () => {
    const rate = new AppendRate(250, 5);
    rate.note(1000, 60);
    rate.note(1010, 60);
    rate.note(1120, 30);
    expect(rate.eventsInWindow(1120)).toBe(150);
    // 1000..1049 is the oldest bucket of the window ending in 1200..1249.
    expect(rate.eventsInWindow(1240)).toBe(150);
    expect(rate.eventsInWindow(1250)).toBe(30);
    expect(rate.eventsInWindow(1400)).toBe(0);
  });

  it('reuses a slot for a newer bucket without keeping its old count', () => {
    const rate = new AppendRate(100, 2);
    rate.note(0, 10);
    rate.note(100, 5); // same slot as 0, two buckets later
    expect(rate.eventsInWindow(100)).toBe(5);
  });

  it('refuses a window or bucket count that cannot work, naming it', () => {
    expect(() => new AppendRate(0)).toThrow(/windowMs must be a positive number, got 0/);
    expect(() => new AppendRate(100, 0)).toThrow(/buckets must be a positive integer, got 0/);
  });
});

import { defineConfig } from 'vitest/config';

// The case tests run each benchmark case once, on small data, against real SQLite files
// at synchronous=FULL: correct results, not speed, are what they check, and a busy
// machine (turbo runs every package's tests at once) must not turn them into timeouts.
export default defineConfig({
  test: {
    testTimeout: 60_000,
  },
});

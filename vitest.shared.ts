import { defineConfig } from 'vitest/config';

/**
 * The test settings every package shares (each package's `vitest.config.ts` re-exports
 * it). Tests check behaviour, never speed; turbo runs every package's tests at once on
 * machines with two cores, so the per-test timeout is generous. Tests that need longer
 * say so themselves.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

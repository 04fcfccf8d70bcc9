import { defineConfig } from 'vitest/config';

/**
 * The test settings every package shares (each package's `vitest.config.ts` re-exports
 * it). Tests check behaviour, never speed; turbo runs two packages' tests at a time
 * (`turbo run test --concurrency=2`) on machines with two cores, so the per-test timeout
 * is generous. Tests that need longer say so themselves.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});

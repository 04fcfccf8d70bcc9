import { defineConfig, mergeConfig } from 'vitest/config';

import shared from '../../vitest.shared.js';

// The fixtures wait for the sealing thread (low priority) to seal every session, which a
// busy machine can delay for many seconds.
export default mergeConfig(
  shared,
  defineConfig({ test: { testTimeout: 90_000, hookTimeout: 90_000 } }),
);

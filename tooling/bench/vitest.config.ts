import { defineConfig, mergeConfig } from 'vitest/config';

import shared from '../../vitest.shared.js';

// The case tests run each benchmark case once, on small data, against real SQLite files
// at synchronous=FULL: they check results, not speed.
export default mergeConfig(shared, defineConfig({ test: { testTimeout: 180_000 } }));

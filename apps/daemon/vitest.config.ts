import { defineConfig, mergeConfig } from 'vitest/config';
import shared from '../../vitest.shared.js';

// The integration tests start daemons as child processes (open, migrate, integrity
// check, recovery) and kill them; on a loaded two-core machine one start takes seconds.
export default mergeConfig(shared, defineConfig({ test: { testTimeout: 120_000 } }));

export { runDemo } from './run-demo.js';
export type { DemoIo } from './run-demo.js';
export type { DemoReport } from './format-summary.js';
export type { StoreSummary } from './read-store-summary.js';
export { LIVE_USAGE, parseLiveArgs, runLive } from './run-live.js';
export type { LiveArgs, LiveIo } from './run-live.js';

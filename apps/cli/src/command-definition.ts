import type { Command } from 'commander';

import type { CliRuntime } from './cli-runtime.js';

/**
 * One entry of the command table: a top-level command (with its subcommands) that
 * registers itself on the program. A new command is a file in `src/commands/` exporting
 * one of these, added to `COMMANDS`.
 */
export interface CommandDefinition {
  /** The top-level name (`sessions`, `verify`, …). */
  readonly name: string;
  /** Adds the command to `program`, its actions reporting to `runtime`. */
  register(program: Command, runtime: CliRuntime): void;
}

/** Help text with examples, for `addHelpText('after', …)`. */
export function examples(...lines: readonly string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`;
}

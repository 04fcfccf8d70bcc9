#!/usr/bin/env node
import { writeFileSync } from 'node:fs';
import type { BenchCase } from './bench-case.js';
import { captureEnv } from './capture-env.js';
import { formatReport, toBenchJson } from './format-report.js';
import { BENCH_USAGE, parseBenchArgs, type BenchArgs } from './parse-bench-args.js';
import { BENCH_CASES, selectCases } from './registry.js';
import { runBench } from './run-bench.js';

async function main(argv: readonly string[]): Promise<number> {
  let args: BenchArgs;
  let cases: BenchCase[];
  try {
    args = parseBenchArgs(argv);
    cases = selectCases(args.cases);
  } catch (error) {
    process.stderr.write(
      `${error instanceof Error ? error.message : String(error)}\n\n${BENCH_USAGE}\n`,
    );
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  if (args.list) {
    for (const c of BENCH_CASES) {
      process.stdout.write(
        `${c.name.padEnd(16)} ${c.description}${c.once === true ? ' (once per run)' : ''}\n`,
      );
    }
    return 0;
  }
  const env = captureEnv(args.options);
  const log = (message: string) => process.stderr.write(`${message}\n`);
  const run = await runBench(cases, args.options, { log });
  process.stdout.write(`\n${formatReport(env, run)}\n`);
  if (args.json !== undefined) {
    writeFileSync(args.json, `${JSON.stringify(toBenchJson(env, run), null, 2)}\n`);
    process.stdout.write(`\nwrote ${args.json}\n`);
  }
  return run.failures.length > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);

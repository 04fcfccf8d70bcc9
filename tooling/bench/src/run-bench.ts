import { mkdtempSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import type { BenchCase, BenchContext, BenchOptions, Better, Measurement } from './bench-case.js';
import { buildDataset, type BenchDataset } from './bench-dataset.js';
import { summarize } from './stats.js';

/** Summary of one metric over the repetitions of a run. */
export interface MetricResult {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly unit: string;
  readonly better: Better;
  /** One value per repetition that measured it, in order. */
  readonly samples: readonly number[];
  readonly note?: string;
}

/** A case that threw; it is not repeated after its first failure. */
export interface CaseFailure {
  readonly case: string;
  readonly round: number;
  readonly message: string;
}

/** Everything a run measured. */
export interface BenchRunResult {
  /** Metric name to summary, in the order the metrics were first measured. */
  readonly results: Readonly<Record<string, MetricResult>>;
  readonly failures: readonly CaseFailure[];
}

/** Options of {@link runBench} beyond the command-line ones. */
export interface RunBenchHooks {
  /** Progress output; default: nothing. */
  readonly log?: (message: string) => void;
  /** Use this dataset instead of simulating one from the options. */
  readonly dataset?: BenchDataset;
}

interface Accumulator {
  unit: string;
  better: Better;
  samples: number[];
  note: string | undefined;
}

/**
 * Runs every case `options.runs` times, interleaved (round 1 of every case, then round
 * 2, ...) so that the cases compared in one run see the same machine conditions, then
 * computes each derived metric per round and summarizes median/min/max.
 */
export async function runBench(
  cases: readonly BenchCase[],
  options: BenchOptions,
  hooks: RunBenchHooks = {},
): Promise<BenchRunResult> {
  const log = hooks.log ?? (() => undefined);
  const names = new Set<string>();
  for (const benchCase of cases) {
    if (names.has(benchCase.name)) throw new Error(`two cases are named ${benchCase.name}`);
    names.add(benchCase.name);
  }
  const dataset =
    hooks.dataset ??
    buildDataset({ seed: options.seed, batches: options.batches, batchSize: options.batchSize });
  const metrics = new Map<string, Accumulator>();
  const failures: CaseFailure[] = [];
  const failed = new Set<string>();
  const derived = cases.flatMap((c) => c.derived ?? []);
  type Sample = Pick<Measurement, 'name' | 'value' | 'unit' | 'better'> & { note?: string };
  /** Throws when a sample cannot be recorded, before anything of its case is. */
  const check = (m: Sample): void => {
    if (!Number.isFinite(m.value)) throw new Error(`${m.name} is not a finite number: ${m.value}`);
    const unit = metrics.get(m.name)?.unit;
    if (unit !== undefined && unit !== m.unit) {
      throw new Error(`${m.name} measured in ${m.unit} and in ${unit}`);
    }
  };
  const record = (m: Sample): void => {
    const entry = metrics.get(m.name) ?? {
      unit: m.unit,
      better: m.better,
      samples: [],
      note: undefined,
    };
    entry.samples.push(m.value);
    if (m.note !== undefined) entry.note = m.note;
    metrics.set(m.name, entry);
  };

  const dir = mkdtempSync(path.join(options.tmpDir, 'wf-bench-'));
  let files = 0;
  try {
    for (let round = 0; round < options.runs; round++) {
      const thisRound = new Map<string, number>();
      for (const benchCase of cases) {
        if (failed.has(benchCase.name) || (benchCase.once === true && round > 0)) continue;
        const ctx: BenchContext = {
          options,
          dataset,
          round,
          tempPath: (name) => path.join(dir, `${String(++files).padStart(3, '0')}-${name}`),
          log: (message) => log(`[${benchCase.name} ${round + 1}/${options.runs}] ${message}`),
        };
        log(`[${benchCase.name} ${round + 1}/${options.runs}] ${benchCase.description}`);
        let measured: readonly Measurement[];
        try {
          measured = await benchCase.run(ctx);
          if (measured.length === 0) throw new Error('the case measured nothing');
          measured.forEach(check);
        } catch (error) {
          failed.add(benchCase.name);
          const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
          failures.push({ case: benchCase.name, round, message });
          log(`[${benchCase.name}] FAILED: ${message.split('\n')[0] ?? ''}`);
          continue;
        }
        for (const m of measured) {
          record(m);
          thisRound.set(m.name, m.value);
        }
      }
      for (const d of derived) {
        const inputs = d.inputs.map((name) => thisRound.get(name));
        if (!inputs.every((v): v is number => v !== undefined)) continue;
        try {
          const sample = { name: d.name, value: d.compute(inputs), unit: d.unit, better: d.better };
          check(sample);
          record(sample);
        } catch (error) {
          failures.push({ case: d.name, round, message: String(error) });
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const results: Record<string, MetricResult> = {};
  for (const [name, entry] of metrics) {
    results[name] = {
      ...summarize(entry.samples),
      unit: entry.unit,
      better: entry.better,
      samples: entry.samples,
      ...(entry.note !== undefined ? { note: entry.note } : {}),
    };
  }
  return { results, failures };
}

import { writeFileSync } from 'node:fs';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { outputFilePath } from '../cli-runtime.js';
import { CliError } from '../errors.js';
import { openReadOnly } from '../open-store.js';
import { PLOT_METRICS, SeriesSamples, buildSeries } from '../plot/chart-series.js';
import type { PlotMetric } from '../plot/chart-series.js';
import { renderSvgChart } from '../plot/svg-chart.js';
import { renderTerminalChart } from '../plot/terminal-chart.js';
import { findSession } from '../session-arg.js';
import { positiveInt } from './sessions-command.js';

interface PlotOptions extends CommonOptions {
  readonly svg?: string;
  readonly metric: string;
  readonly width?: string;
  readonly height: string;
}

/** `wfstate plot SESSION`. */
/** The largest chart drawn on a terminal (a chart is held in memory whole). */
const MAX_COLUMNS = 1000;
const MAX_ROWS = 500;

function atMost(value: number, max: number, name: string): number {
  if (value > max) {
    throw new CliError('usage', `${name} must be at most ${max}, got ${value}`);
  }
  return value;
}

export const plotCommand: CommandDefinition = {
  name: 'plot',
  register(program, runtime) {
    const command = runtime
      .common(program.command('plot'))
      .argument('<session>', 'session id')
      .option('--metric <metric>', `what to plot: ${PLOT_METRICS.join(', ')}`, 'energy')
      .option(
        '--svg <file>',
        'also write the chart as an SVG file (axes, labels, peaks and anomalies marked)',
      )
      .option('--width <columns>', 'chart width in columns (default: the terminal width)')
      .option('--height <rows>', 'chart height in rows', '10')
      .description(
        "a session's energy (or tokens, fps, frame budget) over time, in the terminal and as SVG",
      )
      .addHelpText(
        'after',
        `${examples(
          'wfstate plot 20250817T194800Z_001',
          'wfstate plot 20250817T194800Z_001 --metric budget --svg budget.svg',
          'wfstate plot 20250817T194800Z_001 --json | jq .marks',
        )}
In the terminal, ^ under the time axis marks an energy peak, ! an anomaly (a bucket more
than three standard deviations from the mean, or a frame drop).
`,
      );
    runtime.bind<PlotOptions>(command, async (env, options, [arg]) => {
      if (!PLOT_METRICS.includes(options.metric as PlotMetric)) {
        throw new CliError(
          'usage',
          `--metric must be one of ${PLOT_METRICS.join(', ')}, got ${options.metric}`,
        );
      }
      const metric = options.metric as PlotMetric;
      const columns =
        options.width !== undefined
          ? atMost(positiveInt(options.width, '--width'), MAX_COLUMNS, '--width')
          : Math.max(20, Math.min(200, (env.io.stdout.columns ?? 80) - 10));
      const height = atMost(positiveInt(options.height, '--height'), MAX_ROWS, '--height');
      const open = await openReadOnly(env);
      try {
        const ref = await findSession(open.storage, arg!);
        const samples = new SeriesSamples();
        for await (const record of open.store.readStream(ref.stream)) samples.add(record.event);
        if (samples.samples.length === 0) {
          throw new CliError('not_found', `session ${ref.sessionId} has nothing to plot`);
        }
        const title = `session ${ref.sessionId}`;
        const terminal = buildSeries(samples, metric, columns);
        let svgPath: string | undefined;
        if (options.svg !== undefined) {
          svgPath = outputFilePath(env, options.svg, '--svg');
          writeFileSync(svgPath, renderSvgChart(buildSeries(samples, metric, 480), title));
        }
        const json = {
          sessionId: ref.sessionId,
          metric,
          startedAt: new Date(terminal.startUs / 1000).toISOString(),
          durationS: terminal.durationS,
          bucketS: terminal.bucketS,
          values: terminal.values,
          min: terminal.min,
          max: terminal.max,
          mean: terminal.mean,
          marks: terminal.marks,
          svg: svgPath ?? null,
        };
        const text = `${renderTerminalChart(terminal, title, height)}${svgPath === undefined ? '' : `\nSVG written to ${svgPath}`}`;
        return { json, text };
      } finally {
        await open.close();
      }
    });
  },
};

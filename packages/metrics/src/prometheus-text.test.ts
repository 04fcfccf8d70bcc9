import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MetricRegistry } from './metric-registry.js';
import {
  escapeLabelValue,
  formatSampleValue,
  prometheusName,
  toPrometheusText,
} from './prometheus-text.js';

// The text format 0.0.4, line by line: comments, or `name{labels} value`.
const METRIC_NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
const VALUE = '(?:[-+]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][-+]?\\d+)?|NaN|[+-]Inf)';
const SAMPLE = new RegExp(`^(${METRIC_NAME})(?:\\{(${LABEL}(?:,${LABEL})*)\\})? (${VALUE})$`);
const HELP = new RegExp(`^# HELP (${METRIC_NAME}) (?:[^\\\\\\n]|\\\\[\\\\n])*$`);
const TYPE = new RegExp(`^# TYPE (${METRIC_NAME}) (counter|gauge|summary|histogram|untyped)$`);

/** Checks the rules of the format; returns the samples by metric family. */
function parse(text: string): Map<string, { type: string; samples: string[] }> {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, { type: string; samples: string[] }>();
  let current: string | undefined;
  let helpFor: string | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = HELP.exec(line);
    const type = TYPE.exec(line);
    if (help !== null) {
      expect(families.has(help[1]!), `one HELP per family: ${help[1]}`).toBe(false);
      helpFor = help[1];
      continue;
    }
    if (type !== null) {
      expect(type[1]).toBe(helpFor);
      expect(families.has(type[1]!)).toBe(false);
      families.set(type[1]!, { type: type[2]!, samples: [] });
      current = type[1];
      continue;
    }
    const sample = SAMPLE.exec(line);
    expect(sample, `a sample line: ${JSON.stringify(line)}`).not.toBeNull();
    const name = sample![1]!;
    const family = families.get(current!)!;
    // Samples of a family follow its TYPE line, with the suffixes its type allows.
    const allowed =
      family.type === 'summary' ? [current, `${current}_sum`, `${current}_count`] : [current];
    expect(allowed).toContain(name);
    if (family.type === 'summary' && name === current) expect(sample![2]).toMatch(/quantile="/);
    family.samples.push(line);
  }
  return families;
}

describe('prometheusName', () => {
  it('follows the OpenTelemetry to Prometheus conversion', () => {
    expect(prometheusName('db.client.operation.duration', 'histogram', 's')).toBe(
      'db_client_operation_duration_seconds',
    );
    expect(prometheusName('wirthforge.store.commits', 'counter', '{commit}')).toBe(
      'wirthforge_store_commits_total',
    );
    expect(prometheusName('process.memory.usage', 'gauge', 'By')).toBe(
      'process_memory_usage_bytes',
    );
    expect(prometheusName('a.total', 'counter', '1')).toBe('a_total');
  });
});

describe('toPrometheusText', () => {
  it('writes HELP and TYPE once per family, counters, gauges and summaries', () => {
    const registry = new MetricRegistry();
    const rejected = registry.counter({
      name: 'wirthforge.recorder.events.rejected',
      help: 'Rejected events',
      unit: '{event}',
      labelNames: ['reason', 'event.type'],
    });
    rejected.inc(2, { reason: 'invalid', 'event.type': 'energy.update' });
    rejected.inc(1, { reason: 'frame_full', 'event.type': 'ai.output' });
    registry.gauge({ name: 'process.memory.usage', help: 'RSS', unit: 'By', collect: () => 1234 });
    const latency = registry.histogram({ name: 'x.latency', help: 'Latency', unit: 's' });
    for (const ms of [1, 2, 3, 4, 100]) latency.record(ms / 1000);
    registry.histogram({ name: 'x.empty', help: 'Nothing yet', unit: 's' }).with();

    const text = toPrometheusText(registry.snapshot());
    const families = parse(text);
    expect([...families.keys()]).toEqual([
      'wirthforge_recorder_events_rejected_total',
      'process_memory_usage_bytes',
      'x_latency_seconds',
      'x_empty_seconds',
    ]);
    expect(families.get('wirthforge_recorder_events_rejected_total')!.samples).toEqual([
      'wirthforge_recorder_events_rejected_total{reason="invalid",event_type="energy.update"} 2',
      'wirthforge_recorder_events_rejected_total{reason="frame_full",event_type="ai.output"} 1',
    ]);
    expect(families.get('process_memory_usage_bytes')).toEqual({
      type: 'gauge',
      samples: ['process_memory_usage_bytes 1234'],
    });
    const summary = families.get('x_latency_seconds')!;
    expect(summary.type).toBe('summary');
    expect(summary.samples).toContain('x_latency_seconds_count 5');
    expect(summary.samples).toContain('x_latency_seconds_sum 0.11');
    expect(summary.samples.find((l) => l.includes('quantile="0.5"'))).toBe(
      'x_latency_seconds{quantile="0.5"} 0.003',
    );
    expect(families.get('x_empty_seconds')!.samples).toEqual([
      'x_empty_seconds{quantile="0.5"} NaN',
      'x_empty_seconds{quantile="0.9"} NaN',
      'x_empty_seconds{quantile="0.99"} NaN',
      'x_empty_seconds_sum 0',
      'x_empty_seconds_count 0',
    ]);
  });

  it('escapes label values and help text so any string stays one well-formed line', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.string({ maxLength: 40 }),
        (value, help) => {
          const registry = new MetricRegistry();
          registry
            .counter({ name: 'a.b', help: `h${help}`, labelNames: ['v'] })
            .inc(1, { v: value });
          const families = parse(toPrometheusText(registry.snapshot()));
          const line = families.get('a_b_total')!.samples[0]!;
          // Unescaping the label gives the value back.
          const quoted = /v="((?:[^"\\]|\\.)*)"/.exec(line)![1]!;
          expect(quoted.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c))).toBe(value);
        },
      ),
      { numRuns: 200 },
    );
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });

  it('writes the special values as the format spells them', () => {
    expect(formatSampleValue(Number.NaN)).toBe('NaN');
    expect(formatSampleValue(Number.POSITIVE_INFINITY)).toBe('+Inf');
    expect(formatSampleValue(Number.NEGATIVE_INFINITY)).toBe('-Inf');
    expect(formatSampleValue(1e-7)).toBe('1e-7');
    expect(SAMPLE.test(`a ${formatSampleValue(1e-7)}`)).toBe(true);
  });

  it('gives nothing for an empty registry', () => {
    expect(toPrometheusText(new MetricRegistry().snapshot())).toBe('');
  });
});

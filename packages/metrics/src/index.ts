export {
  METRICS_ERROR_CODES,
  MetricsError,
  isMetricsError,
  type MetricsErrorCode,
  type MetricsErrorOptions,
} from './errors.js';
export type {
  HistogramMetricSnapshot,
  HistogramSeries,
  Labels,
  MetricDescriptor,
  MetricSnapshot,
  MetricType,
  MetricsSnapshot,
  ValueMetricSnapshot,
  ValueSeries,
} from './metric-types.js';
export { Counter, type CounterChild, type CounterOptions } from './counter.js';
export { Gauge, type GaugeChild, type GaugeOptions } from './gauge.js';
export { Histogram, type HistogramChild, type HistogramOptions } from './histogram.js';
export { MetricRegistry, valueOf } from './metric-registry.js';
export {
  PROMETHEUS_CONTENT_TYPE,
  escapeHelp,
  escapeLabelValue,
  formatSampleValue,
  prometheusLabelName,
  prometheusName,
  toPrometheusText,
} from './prometheus-text.js';
export { METRIC_NAMES } from './metric-names.js';
export {
  createStoreMetrics,
  type OperationKind,
  type OverBudgetCause,
  type StorageFiles,
  type StorageKind,
  type StoreMetrics,
  type StoreMetricsOptions,
} from './store-metrics.js';
export {
  ALL_MODELS,
  EnergyAnalytics,
  ROLLUP_GRANULARITIES,
  rollupWriteOf,
  type AnalyticsEvent,
  type AnomalyDetectionOptions,
  type EnergyAnalyticsOptions,
  type EnergyAnalyticsStats,
  type PeakDetectionOptions,
  type RollupBucket,
  type RollupGranularity,
  type SeriesTrend,
  type TrendWindow,
} from './energy-analytics.js';
export {
  AnalyticsQueries,
  trendsOf,
  type LevelStep,
  type RollupPoint,
  type RollupQuery,
  type StoreDatabase,
  type UsageDay,
} from './analytics-queries.js';
export {
  MAD_SCALE,
  exponentialMovingAverage,
  median,
  medianAndMad,
  movingAverage,
  slope,
} from './rolling-stats.js';

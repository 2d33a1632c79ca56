// Order statistics of a sample. Benchmarks report medians (robust to the odd slow run) with min–max.

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly p90: number;
  readonly count: number;
}

/** The q-quantile (0..1) of `values`, interpolating between the two nearest ranks. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error('quantile of an empty sample');
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function summarize(values: readonly number[]): Summary {
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    p90: quantile(values, 0.9),
    count: values.length,
  };
}

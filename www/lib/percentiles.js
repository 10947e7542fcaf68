/**
 * The `lo` and `hi` quantiles (0 to 1) of the finite values of `data` (of its non-zero
 * ones if `masked`), from a sample of at most about 200,000 values; [0, 1] if there are none.
 */
export function percentiles(data, lo, hi, masked) {
  const sample = [];
  const step = Math.max(1, Math.floor(data.length / 200_000));
  for (let i = 0; i < data.length; i += step) {
    const v = data[i];
    if (Number.isFinite(v) && (!masked || v !== 0)) sample.push(v);
  }
  if (!sample.length) return [0, 1];
  sample.sort((a, b) => a - b);
  const at = (p) => sample[Math.min(sample.length - 1, Math.floor(p * (sample.length - 1)))];
  return [at(lo), at(hi)];
}

// The reduction the benchmarks time: a plain JavaScript sum of a Float64Array, four independent
// accumulators so that the loop is not bound by the latency of one chain of additions.

export function sumFloat64(a: Float64Array): number {
  const n = a.length;
  const head = n % 4;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  // The odd elements first: a loop after the main one would first run (and get type feedback) only
  // after V8 had compiled the hot main loop, whose code then deoptimizes there on every call.
  for (let i = 0; i < head; i++) s0 += a[i]!;
  for (let i = head; i < n; i += 4) {
    s0 += a[i]!;
    s1 += a[i + 1]!;
    s2 += a[i + 2]!;
    s3 += a[i + 3]!;
  }
  return s0 + s1 + s2 + s3;
}

/** Runs sumFloat64 over a private array until V8 has compiled it (before a clock starts). */
export function warmUpSum(): void {
  const a = new Float64Array(2 ** 16).fill(1);
  for (let k = 0; k < 100; k++) {
    if (sumFloat64(a) !== a.length) throw new Error('sumFloat64 is wrong');
  }
}

/** Element i holds i % 1024: every partial sum is an integer below 2^53, so any order adds up exactly. */
export function fillPattern(a: Float64Array): void {
  for (let i = 0; i < a.length; i++) a[i] = i % 1024;
}

/** The exact sum of fillPattern's elements [from, to). */
export function patternSum(from: number, to: number): number {
  const upTo = (n: number): number => {
    const full = Math.floor(n / 1024);
    const rest = n % 1024;
    return full * ((1023 * 1024) / 2) + (rest * (rest - 1)) / 2;
  };
  return upTo(to) - upTo(from);
}

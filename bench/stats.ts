// Summaries of repeated measurements (pure).

export interface Summary {
  min: number;
  median: number;
  max: number;
  n: number;
}

export function summarize(xs: number[]): Summary {
  if (xs.length === 0) return { min: NaN, median: NaN, max: NaN, n: 0 };
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { min: s[0]!, median, max: s[s.length - 1]!, n: s.length };
}

// "min / median / max" with the given decimals.
export function fmtSummary(s: Summary, digits = 1): string {
  return [s.min, s.median, s.max].map((v) => fmtNum(v, digits)).join(' / ');
}

// A number with thousands separators (and a true minus sign kept plain).
export function fmtNum(v: number, digits = 1): string {
  if (!Number.isFinite(v)) return 'n/a';
  const d = Math.abs(v) >= 1000 ? 0 : digits;
  return v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

// Fisher-Yates with a given random source (deterministic orders).
export function shuffle<T>(xs: T[], rnd: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

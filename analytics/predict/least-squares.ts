// Weighted least squares with non-negative coefficients, small enough to read in one sitting.
// simple-statistics fits one variable only; the predictor needs three to five, so the normal
// equations are solved here (columns scaled first, a tiny ridge for collinear histories).

export interface LeastSquaresFit {
  /** One per column of X; 0 for a column left out (no variation, or its best value was negative). */
  coefficients: number[];
  /** Columns that carry a coefficient. */
  active: boolean[];
}

/**
 * Minimizes Σ w_i (y_i − x_i·β)² subject to β ≥ 0. A column whose unconstrained coefficient
 * comes out negative is removed and the rest refitted (an active-set pass, as in Lawson–Hanson),
 * because a negative cost per file or per byte has no physical meaning.
 * Returns undefined when no column can be fitted (no rows, or all columns zero).
 */
export function nonNegativeLeastSquares(
  X: readonly (readonly number[])[],
  y: readonly number[],
  w: readonly number[],
): LeastSquaresFit | undefined {
  const p = X[0]?.length ?? 0;
  if (X.length === 0 || p === 0) return undefined;
  // Scale each column to unit weighted RMS so bytes (1e9) and counts (1e3) meet on equal terms.
  const scale = new Array<number>(p).fill(0);
  let wsum = 0;
  for (let i = 0; i < X.length; i++) {
    wsum += w[i]!;
    for (let j = 0; j < p; j++) scale[j]! += w[i]! * X[i]![j]! ** 2;
  }
  const active = scale.map((s) => s > 0 && Number.isFinite(s));
  for (let j = 0; j < p; j++) scale[j] = active[j] ? Math.sqrt(scale[j]! / wsum) : 1;
  for (let round = 0; round < p; round++) {
    const cols = active.flatMap((a, j) => (a ? [j] : []));
    if (cols.length === 0) return undefined;
    const beta = solveNormal(X, y, w, cols, scale);
    if (!beta) return undefined;
    let worst = -1;
    for (let k = 0; k < cols.length; k++) if (beta[k]! < 0 && (worst < 0 || beta[k]! < beta[worst]!)) worst = k;
    if (worst < 0) {
      const coefficients = new Array<number>(p).fill(0);
      cols.forEach((j, k) => (coefficients[j] = beta[k]! / scale[j]!));
      return { coefficients, active: [...active] };
    }
    active[cols[worst]!] = false;
  }
  return undefined;
}

// (Xᵀ W X + λI) β = Xᵀ W y over the chosen columns, by Gaussian elimination with partial pivoting.
function solveNormal(
  X: readonly (readonly number[])[],
  y: readonly number[],
  w: readonly number[],
  cols: number[],
  scale: number[],
): number[] | undefined {
  const k = cols.length;
  const A = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
  for (let i = 0; i < X.length; i++) {
    const row = X[i]!;
    const wi = w[i]!;
    for (let a = 0; a < k; a++) {
      const xa = row[cols[a]!]! / scale[cols[a]!]!;
      if (xa === 0) continue;
      for (let b = a; b < k; b++) A[a]![b]! += wi * xa * (row[cols[b]!]! / scale[cols[b]!]!);
      A[a]![k]! += wi * xa * y[i]!;
    }
  }
  let trace = 0;
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < a; b++) A[a]![b] = A[b]![a]!;
    trace += A[a]![a]!;
  }
  // Ridge: negligible for a well-posed history, keeps collinear columns (files = entries) solvable.
  const ridge = 1e-9 * (trace / k || 1);
  for (let a = 0; a < k; a++) A[a]![a]! += ridge;
  for (let c = 0; c < k; c++) {
    let pivot = c;
    for (let r = c + 1; r < k; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[pivot]![c]!)) pivot = r;
    if (!(Math.abs(A[pivot]![c]!) > 0)) return undefined;
    [A[c], A[pivot]] = [A[pivot]!, A[c]!];
    for (let r = c + 1; r < k; r++) {
      const f = A[r]![c]! / A[c]![c]!;
      if (f === 0) continue;
      for (let j = c; j <= k; j++) A[r]![j]! -= f * A[c]![j]!;
    }
  }
  const beta = new Array<number>(k).fill(0);
  for (let r = k - 1; r >= 0; r--) {
    let s = A[r]![k]!;
    for (let j = r + 1; j < k; j++) s -= A[r]![j]! * beta[j]!;
    beta[r] = s / A[r]![r]!;
  }
  return beta.every(Number.isFinite) ? beta : undefined;
}

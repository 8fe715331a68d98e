// Recording many runs at once (imports, merges from other hosts, benchmarks): one open of the
// store for all of them instead of one per run.
import type { RunReport } from "../../engine/index.ts";
import { reportProblem } from "../diagnose/report-shape.ts";
import { insertRunRows } from "./run-row.ts";
import { withStore } from "./store.ts";
import { telemetryPath } from "./telemetry-path.ts";

export interface RecordManyOptions {
  /**
   * The store file.
   * @default telemetryPath(process.env)
   */
  path?: string;
  /**
   * How long to wait for a busy store, in ms.
   * @default 2000
   */
  busyTimeoutMs?: number;
}

export interface RecordManyResult {
  /** Runs added; runs already present (same id) are left alone. */
  added: number;
  /** Reports that are not runs the store can file, with the reason. */
  rejected: { index: number; reason: string }[];
}

/**
 * Stores many runs in one open of the store. Unlike record(), this throws a TelemetryError when
 * the store cannot be opened (nothing is spooled): it is for tools, not for a run in progress.
 * Idempotent on each report's id.
 */
export function recordMany(reports: readonly RunReport[], options: RecordManyOptions = {}): Promise<RecordManyResult> {
  return withStore(
    options.path ?? telemetryPath(),
    async ({ conn }) => {
      const result: RecordManyResult = { added: 0, rejected: [] };
      const good: RunReport[] = [];
      reports.forEach((r, index) => {
        const reason = reportProblem(r);
        if (reason) result.rejected.push({ index, reason });
        else good.push(r);
      });
      // All in one transaction: each run with its errors, context and timeline rows.
      await conn.run("BEGIN TRANSACTION");
      try {
        for (const r of good) if (await insertRunRows(conn, r)) result.added++;
        await conn.run("COMMIT");
      } catch (err) {
        await conn.run("ROLLBACK").catch(() => {});
        throw err;
      }
      return result;
    },
    { busyTimeoutMs: options.busyTimeoutMs ?? 2000 },
  );
}

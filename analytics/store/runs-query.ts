// Reading runs back. Reads open the store like any other use (so they merge the spool), and wait
// a little for a busy store, because a reader usually runs right after a writer finished.
import type { RunReport } from "../../engine/index.ts";
import { loadRecentRuns, type RunRecord } from "./run-record.ts";
import { withStore } from "./store.ts";
import { telemetryPath } from "./telemetry-path.ts";

export interface ReadOptions {
  /**
   * The store file.
   * @default telemetryPath(process.env)
   */
  path?: string;
  /**
   * How long to retry while another process holds the store, in ms; then a TelemetryError with
   * code TELEMETRY_BUSY.
   * @default 2000
   */
  busyTimeoutMs?: number;
}

export interface ListOptions extends ReadOptions {
  /**
   * Most runs to return.
   * @default 20
   */
  limit?: number;
}

const DEFAULT_LIMIT = 20;
const DEFAULT_BUSY_TIMEOUT_MS = 2000;

/** Recorded runs, newest first (by start time). */
export async function listRuns(options: ListOptions = {}): Promise<RunRecord[]> {
  const limit = options.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`limit must be a whole number >= 0, got ${limit}`);
  return withStore(
    options.path ?? telemetryPath(),
    ({ conn }) => loadRecentRuns(conn, limit),
    { busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS },
  );
}

/** The full report of one run, exactly as recorded, or undefined when there is no such run. */
export async function getRun(id: string, options: ReadOptions = {}): Promise<RunReport | undefined> {
  return withStore(
    options.path ?? telemetryPath(),
    async ({ conn }) => {
      const reader = await conn.runAndReadAll("SELECT CAST(report AS VARCHAR) AS report FROM runs WHERE id = $1", [id]);
      const row = reader.getRowObjects()[0];
      return row ? (JSON.parse(String(row.report)) as RunReport) : undefined;
    },
    { busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS },
  );
}

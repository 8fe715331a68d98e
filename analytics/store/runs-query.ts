// Reading runs back. Reads open the store like any other use (so they merge the spool), and wait
// a little for a busy store, because a reader usually runs right after a writer finished.
import type { Command, FastPath, Route, RunReport, RunStatus } from "../../engine/index.ts";
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

/** One line of history: what `blit diagnostics perf` shows. */
export interface RunSummary {
  id: string;
  /** ISO 8601, UTC. */
  startedAt: string;
  finishedAt: string | undefined;
  command: Command;
  route: Route;
  status: RunStatus;
  exitCode: number;
  source: string;
  destination: string;
  sourceFs: string;
  destinationFs: string;
  /** Workload: regular files and bytes in the source. */
  files: number;
  bytes: number;
  copied: number;
  copiedBytes: number;
  /** The transfer phase: what a run's rate is measured over. */
  transferMs: number;
  totalMs: number;
  workers: number;
  strategy: string;
  errorCount: number;
  /** The fast path that carried the most bytes (files, when no bytes moved); undefined if none. */
  mainFastPath: FastPath | undefined;
}

const DEFAULT_LIMIT = 20;
const DEFAULT_BUSY_TIMEOUT_MS = 2000;

/** Recorded runs, newest first (by start time). */
export async function listRuns(options: ListOptions = {}): Promise<RunSummary[]> {
  const limit = options.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`limit must be a whole number >= 0, got ${limit}`);
  return withStore(
    options.path ?? telemetryPath(),
    async ({ conn }) => {
      const reader = await conn.runAndReadAll(
        `SELECT id, epoch_ms(started_at) AS started_ms, epoch_ms(finished_at) AS finished_ms,
                command, route, status, exit_code, source, destination, source_fs, destination_fs,
                files, bytes, copied, copied_bytes, transfer_ms, total_ms, workers, strategy, error_count,
                CAST(bytes_by_path AS VARCHAR) AS bytes_by_path,
                CAST(files_by_path AS VARCHAR) AS files_by_path
         FROM runs ORDER BY started_at DESC, id DESC LIMIT $1`,
        [BigInt(limit)],
      );
      return reader.getRowObjects().map(toSummary);
    },
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

function toSummary(row: Record<string, unknown>): RunSummary {
  return {
    id: String(row.id),
    startedAt: new Date(Number(row.started_ms)).toISOString(),
    finishedAt: row.finished_ms == null ? undefined : new Date(Number(row.finished_ms)).toISOString(),
    command: String(row.command) as Command,
    route: String(row.route) as Route,
    status: String(row.status) as RunStatus,
    exitCode: n(row.exit_code),
    source: s(row.source),
    destination: s(row.destination),
    sourceFs: s(row.source_fs),
    destinationFs: s(row.destination_fs),
    files: n(row.files),
    bytes: n(row.bytes),
    copied: n(row.copied),
    copiedBytes: n(row.copied_bytes),
    transferMs: n(row.transfer_ms),
    totalMs: n(row.total_ms),
    workers: n(row.workers),
    strategy: s(row.strategy),
    errorCount: n(row.error_count),
    mainFastPath: largest(parse(row.bytes_by_path)) ?? largest(parse(row.files_by_path)),
  };
}

function largest(counts: Record<string, unknown>): FastPath | undefined {
  let best: string | undefined;
  let bestValue = 0;
  for (const [key, value] of Object.entries(counts)) {
    if (typeof value === "number" && value > bestValue) {
      best = key;
      bestValue = value;
    }
  }
  return best as FastPath | undefined;
}

function parse(value: unknown): Record<string, unknown> {
  if (typeof value !== "string") return {};
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function n(value: unknown): number {
  return value == null ? 0 : Number(value);
}

function s(value: unknown): string {
  return value == null ? "" : String(value);
}

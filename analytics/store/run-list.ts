// The run list of `blit diagnose --ai`: recent runs with what a person scans for (route, size,
// duration, the prediction, a flag mark) and a throughput series across the whole history.
// Two steps, so the first screen never waits for the predictor: `recentRuns` is one indexed read;
// `scoreRuns` then adds predictions and flags (fitting the predictor when the history changed).
import type { DuckDBConnection } from "@duckdb/node-api";
import type { FlagKind } from "../diagnose/anomalies.ts";
import { Scorer } from "../diagnose/anomalies.ts";
import { currentPredictor } from "../predict/predictor-store.ts";
import { loadHistory } from "./run-history.ts";
import { withStore } from "./store.ts";

export interface RunListEntry {
  id: string;
  /** ISO 8601, UTC. */
  startedAt: string;
  command: string;
  route: string;
  status: string;
  source: string;
  destination: string;
  files: number;
  bytes: number;
  copied: number;
  copiedBytes: number;
  durationMs: number;
  transferMs: number;
  errorCount: number;
  bwlimit: number;
  /** Filled by scoreRuns; undefined until then. */
  prediction?: { durationMs: number; lowMs: number; highMs: number };
  flags?: { kind: FlagKind; severity: "warn" | "info"; text: string }[];
}

export interface RunList {
  /** The store file. */
  path: string;
  /** Runs in the store. */
  total: number;
  /** The most recent runs, newest first. */
  runs: RunListEntry[];
  /** Transfer rate (MiB/s: bytes moved over the transfer phase) of every run that moved data, oldest first. */
  throughput: number[];
  /** True once predictions and flags are in. */
  scored: boolean;
}

export interface RunListOptions {
  /** The store file. */
  path: string;
  /**
   * Most recent runs listed.
   * @default 500
   */
  limit?: number;
  /** @default 2000 */
  busyTimeoutMs?: number;
}

const SELECT = `
  SELECT id, epoch_ms(started_at) AS started_ms, command, route, status, source, destination, files, bytes,
         copied, copied_bytes, total_ms, transfer_ms, error_count,
         coalesce(TRY_CAST(json_extract(options, '$.bwlimit') AS DOUBLE), 0) AS bwlimit
  FROM runs ORDER BY started_at DESC, id DESC LIMIT $1`;

/** The most recent runs and the throughput series, without predictions. */
export function recentRuns(options: RunListOptions): Promise<RunList> {
  return withStore(options.path, (store) => readList(store.conn, options), { busyTimeoutMs: options.busyTimeoutMs ?? 2000 });
}

/** `list` with each run's prediction (80% band) and flags, scored as the history report scores them. */
export function scoreRuns(list: RunList, options: Pick<RunListOptions, "busyTimeoutMs"> = {}): Promise<RunList> {
  return withStore(
    list.path,
    async ({ conn }) => {
      const history = await loadHistory(conn);
      const scorer = new Scorer(await currentPredictor(conn, history), history);
      const byId = new Map(history.map((h) => [h.id, h]));
      const runs = list.runs.map((entry) => {
        const h = byId.get(entry.id);
        if (!h) return entry;
        const s = scorer.score(h);
        return {
          ...entry,
          prediction: { durationMs: s.prediction.durationMs, lowMs: s.prediction.lowMs, highMs: s.prediction.highMs },
          flags: s.flags.map((f) => ({ kind: f.kind, severity: f.severity, text: f.text })),
        };
      });
      return { ...list, total: history.length, runs, scored: true };
    },
    { busyTimeoutMs: options.busyTimeoutMs ?? 2000 },
  );
}

async function readList(conn: DuckDBConnection, options: RunListOptions): Promise<RunList> {
  const limit = options.limit ?? 500;
  const rows = (await conn.runAndReadAll(SELECT, [BigInt(limit)])).getRowObjects();
  const total = Number((await conn.runAndReadAll("SELECT count(*) AS n FROM runs")).getRowObjects()[0]?.n ?? 0);
  const rates = (
    await conn.runAndReadAll(
      "SELECT copied_bytes / (transfer_ms / 1000.0) / 1048576.0 AS mbps FROM runs WHERE copied_bytes > 0 AND transfer_ms > 0 ORDER BY started_at, id",
    )
  ).getRowObjects();
  return {
    path: options.path,
    total,
    runs: rows.map((r) => ({
      id: String(r.id),
      startedAt: new Date(num(r.started_ms)).toISOString(),
      command: str(r.command),
      route: str(r.route),
      status: str(r.status),
      source: str(r.source),
      destination: str(r.destination),
      files: num(r.files),
      bytes: num(r.bytes),
      copied: num(r.copied),
      copiedBytes: num(r.copied_bytes),
      durationMs: num(r.total_ms),
      transferMs: num(r.transfer_ms),
      errorCount: num(r.error_count),
      bwlimit: num(r.bwlimit),
    })),
    throughput: rates.map((r) => num(r.mbps)),
    scored: false,
  };
}

function num(v: unknown): number {
  const n = v == null ? 0 : Number(v);
  return Number.isFinite(n) ? n : 0;
}

function str(v: unknown): string {
  return v == null ? "" : String(v);
}

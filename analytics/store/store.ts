// Opening the store. Every open, whatever it is for, first migrates the schema and then merges
// the spool, so readers always see runs that were spooled while the file was busy.
// DuckDB lets one process at a time open a file for writing; inside this process, uses of one
// file are queued so they never overlap either.
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api";
import { preloadTelemetry } from "./duckdb-module.ts";
import { isFleetSpec, openFleet } from "./fleet-store.ts";
import type { RecentRuns } from "./run-record.ts";
import { migrate } from "./migrations.ts";
import { mergeSpool, type MergeOutcome } from "./spool.ts";
import { spoolDirFor } from "./telemetry-path.ts";
import { causeText, isLockConflict, TelemetryError } from "./telemetry-error.ts";

export interface OpenStore {
  readonly conn: DuckDBConnection;
  /** The store file, or the fleet's Parquet glob. */
  readonly path: string;
  /**
   * "file": a host's own DuckDB file. "fleet": Parquet files of `blit telemetry export`, read in
   * place (fleet-store.ts): read-only, and possibly far larger than one host's history.
   */
  readonly kind: "file" | "fleet";
  /**
   * Where a reader that loads a whole history into memory loads it from when the store is too
   * large for that (a fleet: its most recent FLEET_HISTORY_LIMIT runs); undefined: all of `runs`.
   */
  readonly recent: RecentRuns | undefined;

  /** Schema versions this open applied (empty when the store was current). */
  readonly migrated: readonly number[];
  /** What this open did with the spool. */
  readonly spool: MergeOutcome;
}

export interface OpenOptions {
  /**
   * How long to keep retrying while another process holds the file, in ms. 0 = fail at once.
   * @default 0
   */
  busyTimeoutMs?: number;
  /**
   * The reader needs only runs from this instant on (ms since the epoch): a fleet store then
   * leaves out the files of earlier days. A file store reads everything as before.
   */
  sinceMs?: number;
}

const RETRY_INTERVAL_MS = 50;

/**
 * Below this write-ahead-log size, closing skips DuckDB's checkpoint: committed writes are
 * already durable in the WAL, and the next open replays it. A checkpoint costs ~15-20 ms even for
 * one row, about half of a record; replaying grows with the WAL (~0.1 ms per KiB), so the WAL is
 * folded into the file once it passes this size (about eight runs).
 */
const WAL_CHECKPOINT_BYTES = 32 * 1024;
const queues = new Map<string, Promise<unknown>>();

/**
 * Opens the store at `path` (creating the file and its directory if needed), runs `use`, and
 * closes the store whatever happens. Rejects with a TelemetryError when the store cannot be
 * opened; errors thrown by `use` pass through unchanged. A `path` that names Parquet files (a
 * glob, a .parquet file or a directory) opens a fleet export instead, read-only.
 */
export function withStore<T>(
  path: string,
  use: (store: OpenStore) => Promise<T>,
  options: OpenOptions = {},
): Promise<T> {
  const key = resolve(path);
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous.then(
    () => useStore(key, use, options),
    () => useStore(key, use, options),
  );
  const settled = run.catch(() => {});
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return run;
}

async function useStore<T>(path: string, use: (store: OpenStore) => Promise<T>, options: OpenOptions): Promise<T> {
  if (isFleetSpec(path)) return useFleet(path, use, options.sinceMs);
  const instance = await openInstance(path, options.busyTimeoutMs ?? 0);
  let conn: DuckDBConnection | undefined;
  try {
    let store: OpenStore;
    try {
      conn = await instance.connect();
      const migrated = await migrate(conn);
      const spool = await mergeSpool(conn, spoolDirFor(path));
      store = { conn, path, kind: "file", recent: undefined, migrated, spool };
    } catch (err) {
      throw unavailable(path, err);
    }
    return await use(store);
  } finally {
    if (conn) await skipCheckpointIfWalSmall(conn, path);
    conn?.closeSync();
    instance.closeSync();
    keepPrivate(path); // the WAL this use wrote, kept for the next open
  }
}

async function useFleet<T>(spec: string, use: (store: OpenStore) => Promise<T>, sinceMs: number | undefined): Promise<T> {
  const { instance, conn, recent } = await openFleet(spec, { sinceMs });
  try {
    return await use({ conn, path: spec, kind: "fleet", recent, migrated: [], spool: { merged: 0, bad: 0, failed: 0 } });
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/**
 * The store holds paths, hosts and peer addresses: only its owner may read it. DuckDB creates
 * the file and its write-ahead log with the process umask (0644 usually) and recreates the WAL
 * as it likes, so both are set to 0600 after each open and each close (an older 0644 store is
 * fixed on its next use), and a directory made for the store is 0700.
 */
function keepPrivate(path: string): void {
  for (const file of [path, `${path}.wal`]) {
    try {
      chmodSync(file, 0o600);
    } catch {
      // not there (no WAL), or not ours to change: nothing to do
    }
  }
}

async function skipCheckpointIfWalSmall(conn: DuckDBConnection, path: string): Promise<void> {
  try {
    if (statSync(`${path}.wal`).size < WAL_CHECKPOINT_BYTES) {
      await conn.run("PRAGMA disable_checkpoint_on_shutdown");
    }
  } catch {
    // no WAL (nothing written) or the pragma failed: closing checkpoints as usual
  }
}

async function openInstance(path: string, busyTimeoutMs: number): Promise<DuckDBInstance> {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  } catch (err) {
    throw unavailable(path, err);
  }
  const deadline = Date.now() + busyTimeoutMs;
  for (;;) {
    try {
      const instance = await (await preloadTelemetry()).DuckDBInstance.create(path);
      keepPrivate(path);
      return instance;
    } catch (err) {
      if (!isLockConflict(err)) throw unavailable(path, err);
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new TelemetryError(
          "TELEMETRY_BUSY",
          path,
          `telemetry store ${path} is busy: another process has it open (${causeText(err)})`,
          err,
        );
      }
      await Bun.sleep(Math.min(RETRY_INTERVAL_MS, left));
    }
  }
}

function unavailable(path: string, err: unknown): TelemetryError {
  if (err instanceof TelemetryError) return err;
  return new TelemetryError(
    "TELEMETRY_UNAVAILABLE",
    path,
    `telemetry store ${path} cannot be used: ${causeText(err)}`,
    err,
  );
}

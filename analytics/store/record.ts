// Recording a run. This never fails the run it records: every failure becomes either a spooled
// record (merged by the next open) or one warning line for the CLI to print.
import type { RunReport } from "../../engine/index.ts";
import { insertRun } from "./run-row.ts";
import { spoolReport } from "./spool.ts";
import { withStore } from "./store.ts";
import { causeText, TelemetryError } from "./telemetry-error.ts";
import { spoolDirFor, telemetryPath } from "./telemetry-path.ts";

export interface RecordOptions {
  /**
   * The store file.
   * @default telemetryPath(process.env)
   */
  path?: string;
}

/**
 * What happened to a record:
 * - "db": the run is in the store.
 * - "spooled": the run waits in the spool; the next open of the store merges it. A busy store
 *   spools silently; a broken store spools with a `warning`.
 * - "none": neither worked; `warning` names the path and the cause.
 * `warning`, when present, is one line meant to be shown to the user once.
 */
export interface TelemetryResult {
  stored: "db" | "spooled" | "none";
  warning?: string;
}

/** Stores one run. Never throws; idempotent on `report.id`. */
export function record(report: RunReport, options: RecordOptions = {}): Promise<TelemetryResult> {
  return startRecording(options).finish(report);
}

export interface Recording {
  /** Stores the run's report; resolves like record(). Call once. */
  finish(report: RunReport): Promise<TelemetryResult>;
}

/**
 * Opens the store now, while the run works, so that recording at the end costs only the insert.
 * The store stays open (and locked for other processes, which then spool) until finish().
 */
export function startRecording(options: RecordOptions = {}): Recording {
  let path = "(unknown path)";
  let deliver!: (report: RunReport) => void;
  const pending = new Promise<RunReport>((resolve) => (deliver = resolve));
  let stored: Promise<void>;
  try {
    path = options.path ?? telemetryPath();
    stored = withStore(path, async (store) => {
      await insertRun(store.conn, await pending);
    });
  } catch (err) {
    stored = Promise.reject(err);
  }
  stored.catch(() => {}); // handled in finish()
  return {
    async finish(report: RunReport): Promise<TelemetryResult> {
      deliver(report);
      try {
        await stored;
        return { stored: "db" };
      } catch (storeErr) {
        return fallBack(path, report, storeErr);
      }
    },
  };
}

function fallBack(path: string, report: RunReport, storeErr: unknown): TelemetryResult {
  const busy = storeErr instanceof TelemetryError && storeErr.code === "TELEMETRY_BUSY";
  const storeCause = storeErr instanceof TelemetryError ? causeText(storeErr.cause) : causeText(storeErr);
  let spoolDir = "(unknown spool)";
  try {
    spoolDir = spoolDirFor(path);
    const file = spoolReport(spoolDir, report);
    if (busy) return { stored: "spooled" };
    return {
      stored: "spooled",
      warning: `telemetry: store ${path} is unusable (${storeCause}); run saved to ${file} and will be added when the store works again`,
    };
  } catch (spoolErr) {
    return {
      stored: "none",
      warning: `telemetry: run not recorded: store ${path}: ${storeCause}; spool ${spoolDir}: ${causeText(spoolErr)}`,
    };
  }
}

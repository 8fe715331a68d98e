// Recording a run. This never fails the run it records: every failure becomes either a spooled
// record (merged by the next open) or one warning line for the CLI to print.
import type { RunReport } from "../engine/index.ts";
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
export async function record(report: RunReport, options: RecordOptions = {}): Promise<TelemetryResult> {
  let path = "(unknown path)";
  try {
    path = options.path ?? telemetryPath();
    await withStore(path, (store) => insertRun(store.conn, report));
    return { stored: "db" };
  } catch (storeErr) {
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
}

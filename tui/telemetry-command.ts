// `blit telemetry export DIR` and `blit telemetry import DIR`: this host's runs out to a fleet's
// Parquet folder, and a folder's runs into this host's store (analytics/store/fleet-export.ts).
import { hostName } from "../engine/index.ts";
import { EXPORTED_TABLES, exportTelemetry, importTelemetry, TelemetryError, telemetryPath, type TransferCounts } from "../analytics/index.ts";
import { EXIT_FATAL, EXIT_OK } from "./exit-codes.ts";
import { countOf, formatCount } from "../analytics/index.ts";
import { boolFlag, helpText, parseCommand, stringFlag, type CommandSpec } from "./kit/command.ts";
import { helpFlag } from "./kit/flag.ts";
import { say, warn, type Io } from "./kit/io.ts";

export const TELEMETRY_SPEC: CommandSpec<"telemetry"> = {
  name: "telemetry",
  usage: `blit telemetry export DIR [--store FILE] [--json]
blit telemetry import DIR [--store FILE] [--json]`,
  about: `export: write this host's runs (with their context, timelines and errors) and ingested traces with
their summaries to DIR as Parquet, partitioned by host and day: DIR/host=H/day=YYYY-MM-DD/<table>-<uuid>.parquet.
Only runs and traces not yet in DIR are written (ids are unique): run it from cron as often as you
like; files already in DIR are never rewritten. DIR may be a share (NFS, SMB) that every host
exports to; files are staged in a hidden folder of DIR and renamed into place, so readers never see
half a file. The host is the name each run was recorded with (BLIT_HOST, else the machine's name).
Read a fleet in place with 'blit diagnose --store "DIR/**/*.parquet"' (also diagnostics perf,
predict, report, diagnose --ai), or with any Parquet reader: the schema is in docs/analytics.md.
import: add the runs and traces of DIR that this store lacks (by id), in one transaction.`,
  flags: [
    { name: "--store", value: "FILE", commands: ["telemetry"], help: "the store file to export from or import into", default: "$BLIT_HOME/telemetry.duckdb" },
    { name: "--json", commands: ["telemetry"], help: "print the counts as JSON" },
    helpFlag("telemetry"),
  ],
  positionals: ["export|import", "DIR"],
};

/** `blit telemetry export|import DIR` */
export async function telemetryCommand(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parseCommand(TELEMETRY_SPEC, args, io);
  if (values.help) return say(io, helpText(TELEMETRY_SPEC)), EXIT_OK;
  const [action, dir] = positionals as [string, string];
  if (action !== "export" && action !== "import") throw new RangeError(`blit telemetry: unknown action '${action}'; give export or import`);
  const path = stringFlag(values, "store") ?? telemetryPath(io.env);
  try {
    const counts = action === "export"
      ? await exportTelemetry({ path, dir, host: hostName(io.env) })
      : await importTelemetry({ path, dir });
    say(io, boolFlag(values, "json") ? JSON.stringify({ action, store: path, ...counts }, null, 2) : summary(action, path, counts));
    return EXIT_OK;
  } catch (e) {
    if (!(e instanceof TelemetryError)) throw e;
    warn(io, `telemetry ${action}: ${e.message}`);
    return EXIT_FATAL;
  }
}

function summary(action: "export" | "import", path: string, c: TransferCounts): string {
  const others = EXPORTED_TABLES.filter((t) => t !== "runs" && c.rows[t] > 0).map((t) => `${formatCount(c.rows[t])} ${t}`);
  const what = `${countOf(c.rows.runs, "run")}${others.length > 0 ? ` (${others.join(", ")} rows)` : ""}`;
  const hosts = c.hosts.length > 0 ? ` of ${c.hosts.join(", ")}` : "";
  const skipped = c.skippedRuns > 0 ? `; ${countOf(c.skippedRuns, "run")} ${action === "export" ? "already in the folder" : "already in the store"}, skipped` : "";
  return action === "export"
    ? `exported ${what}${hosts} from ${path} to ${c.dir} in ${countOf(c.files, "new file")}${skipped}`
    : `imported ${what}${hosts} from ${c.dir} (${countOf(c.files, "file")}) into ${path}${skipped}`;
}

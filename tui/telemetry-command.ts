// `blit telemetry export DIR` and `blit telemetry import DIR`: this host's runs out to a fleet's
// Parquet folder, and a folder's runs into this host's store (analytics/store/fleet-export.ts).
import { hostName } from "../engine/index.ts";
import { EXPORTED_TABLES, exportTelemetry, importTelemetry, TelemetryError, telemetryPath, type TransferCounts } from "../analytics/index.ts";
import { EXIT_FATAL, EXIT_OK } from "./exit-codes.ts";
import { countOf, formatCount } from "../analytics/index.ts";
import { boolFlag, helpText, parseCommand, stringFlag } from "./kit/command.ts";
import { TELEMETRY_SPEC } from "./telemetry-flags.ts";
import { say, warn, type Io } from "./kit/io.ts";

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

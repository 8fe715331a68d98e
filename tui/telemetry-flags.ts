// The flag table of `blit telemetry export|import`: its parser, --help and the README's table are
// made from it (tui/kit), apart from telemetry-command.ts like the other commands' tables.
import type { CommandSpec } from "./kit/command.ts";
import { helpFlag } from "./kit/flag.ts";

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

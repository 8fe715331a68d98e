// The run history as a terminal table, for `blit diagnostics perf`.
import type { RunRecord } from "./run-record.ts";
import { formatBytes, formatCount, formatDuration, formatRate, formatTime } from "./human-units.ts";

export interface RunsTableOptions {
  /**
   * Show start times in UTC instead of the local time zone (either way with the zone named).
   * @default false
   */
  utc?: boolean;
}

interface TableColumn {
  title: string;
  align: "left" | "right";
  cell: (run: RunRecord, options: RunsTableOptions) => string;
}

// FILES and BYTES are what the run copied; RATE is copied bytes over the transfer phase, as the
// copy summary prints it. ID is the run id's first 8 characters, which `blit diagnose` takes; a
// dry run says so in STATUS.
const TABLE: readonly TableColumn[] = [
  { title: "ID", align: "left", cell: (r) => r.id.slice(0, 8) },
  { title: "STARTED", align: "left", cell: (r, o) => formatTime(r.startedAt, { utc: o.utc, seconds: false }) },
  { title: "COMMAND", align: "left", cell: (r) => (r.route === "local" ? r.command : `${r.command}/${r.route}`) },
  { title: "STATUS", align: "left", cell: (r) => (r.dryRun ? `${r.status} (dry run)` : r.status) },
  { title: "FILES", align: "right", cell: (r) => formatCount(r.copied) },
  { title: "BYTES", align: "right", cell: (r) => formatBytes(r.copiedBytes) },
  { title: "DURATION", align: "right", cell: (r) => formatDuration(r.totalMs) },
  { title: "RATE", align: "right", cell: (r) => formatRate(r.copiedBytes, r.transferMs) },
  { title: "WORKERS", align: "right", cell: (r) => String(r.workers) },
  { title: "FAST PATH", align: "left", cell: (r) => r.mainFastPath ?? "-" },
  { title: "SOURCE -> DESTINATION", align: "left", cell: (r) => `${r.source} -> ${r.destination}` },
];

/** One header line and one line per run, columns separated by two spaces; no trailing blanks. */
export function formatRunsTable(rows: readonly RunRecord[], options: RunsTableOptions = {}): string {
  if (rows.length === 0) return "No runs recorded yet.";
  const cells = [TABLE.map((c) => c.title), ...rows.map((row) => TABLE.map((c) => c.cell(row, options)))];
  const widths = TABLE.map((_, i) => Math.max(...cells.map((line) => line[i]?.length ?? 0)));
  return cells
    .map((line) =>
      line
        .map((text, i) => {
          const last = i === TABLE.length - 1;
          if (last) return text;
          const width = widths[i] ?? 0;
          return TABLE[i]?.align === "right" ? text.padStart(width) : text.padEnd(width);
        })
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

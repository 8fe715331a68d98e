// The run list's columns, sized to their contents and to the terminal: a column that does not
// fit is left out whole (the id first, then the band, then the file count), never cut mid-cell.
import { countOf, formatBytes, formatDuration, formatTime, type ScoredRun } from "../../analytics/index.ts";
import { flagMark, routeText } from "./run-view.ts";

export interface ListColumn {
  title: string;
  align: "left" | "right";
  cell: (run: ScoredRun) => string;
}

/** Columns in the order shown; `drop` ranks which give way first on a narrow terminal (1 first). */
const COLUMNS: (ListColumn & { drop?: number })[] = [
  { title: "STARTED", align: "left", cell: (r) => startedCell(r.startedAt) },
  { title: "ROUTE", align: "left", cell: (r) => routeText(r) },
  { title: "FILES", align: "right", cell: (r) => countOf(r.files, "file"), drop: 3 },
  { title: "SIZE", align: "right", cell: (r) => formatBytes(r.bytes) },
  { title: "TOOK", align: "right", cell: (r) => formatDuration(r.totalMs) },
  { title: "PREDICTED", align: "right", cell: (r) => (r.prediction ? formatDuration(r.prediction.durationMs) : "…") },
  { title: "80% BAND", align: "left", cell: (r) => (r.prediction ? `${formatDuration(r.prediction.lowMs)}–${formatDuration(r.prediction.highMs)}` : "…"), drop: 2 },
  { title: "F", align: "left", cell: (r) => flagMark(r) },
  { title: "ID", align: "left", cell: (r) => r.id.slice(0, 8), drop: 1 },
];

/** Columns between cells, and the cursor's "> " before the first. */
const GAP = 2;
const CURSOR = 2;

export interface ListLayout {
  header: string;
  row: (run: ScoredRun) => string;
}

/**
 * The header and a row formatter for `width` columns (the last one is left free, as a line that
 * fills it wraps on some terminals). Widths come from all the runs, so scrolling keeps them steady.
 */
export function listLayout(runs: readonly ScoredRun[], width: number): ListLayout {
  const measured = COLUMNS.map((c) => ({ ...c, width: Math.max(c.title.length, ...runs.map((r) => c.cell(r).length)) }));
  const total = (cols: typeof measured) => CURSOR + cols.reduce((sum, c) => sum + c.width, 0) + GAP * (cols.length - 1);
  let cols = measured;
  for (const rank of [1, 2, 3]) {
    if (total(cols) <= width - 1) break;
    cols = cols.filter((c) => c.drop !== rank);
  }
  const line = (cells: string[]) =>
    cells.map((text, i) => (cols[i]!.align === "right" ? text.padStart(cols[i]!.width) : text.padEnd(cols[i]!.width))).join(" ".repeat(GAP)).trimEnd();
  return {
    header: `${" ".repeat(CURSOR)}${line(cols.map((c) => c.title))}`,
    row: (run) => line(cols.map((c) => c.cell(run))),
  };
}

/** "11-30 08:46": the list's start times, in the zone its header names (listZone). */
function startedCell(iso: string): string {
  const t = formatTime(iso, { seconds: false });
  return t === "-" ? t : t.slice(5, 16);
}

/** The zone the list's STARTED column is in: "UTC" or "+01:00" (the local zone now). */
export function listZone(now = Date.now()): string {
  return formatTime(now).slice(20);
}

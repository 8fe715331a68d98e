// The run list: a throughput sparkline over the history, then the most recent runs with route,
// size, duration, prediction and a flag mark; the cursor's row is highlighted.
import { Box, Text } from "ink";
import { formatDuration, type RunList, type ScoredRun } from "../../analytics/index.ts";
import { flagMark, routeText, sizeText, historySparkline, throughputCaption, whenText } from "./run-view.ts";
import { Spinner } from "./spinner.tsx";

export interface RunListScreenProps {
  list: RunList;
  /** The runs after the filter. */
  shown: readonly ScoredRun[];
  cursor: number;
  /** Rows available for runs. */
  height: number;
  width: number;
  filter: string;
  filterMode: boolean;
  /** Predictions are being computed. */
  scoring: boolean;
  notice?: string;
}

const COLUMNS = [["STARTED", 19], ["ROUTE", 13], ["SIZE", 24], ["TOOK", 9], ["PREDICTED (80% BAND)", 28], ["F", 1]] as const;

export function RunListScreen(p: RunListScreenProps) {
  const rows = Math.max(1, p.height);
  const top = Math.max(0, Math.min(p.cursor - Math.floor(rows / 2), p.shown.length - rows));
  const visible = p.shown.slice(top, top + rows);
  const selected = p.shown[p.cursor];
  const sparkWidth = Math.max(10, Math.min(p.width - 14, 100));
  return (
    <Box flexDirection="column">
      <Text>
        <Text bold>Throughput </Text>
        <Text color="green">{historySparkline(p.list.throughput, sparkWidth)}</Text>
      </Text>
      <Text dimColor>{throughputCaption(p.list.throughput)}</Text>
      <Text>
        <Text bold>
          {"  "}
          {COLUMNS.map(([name, w]) => name.padEnd(w)).join("  ")}
          {"  ID"}
        </Text>
      </Text>
      {p.shown.length === 0 ? (
        <Text>{p.list.runs.length === 0 ? "No runs recorded yet: run 'blit copy' or 'blit mirror' and come back." : `No run matches '${p.filter}'.`}</Text>
      ) : (
        visible.map((r, i) => <RunRow key={r.id} run={r} selected={top + i === p.cursor} />)
      )}
      <Box marginTop={1} flexDirection="column">
        {selected?.flags && selected.flags.length > 0 ? (
          selected.flags.map((f) => (
            <Text key={f.kind} color={f.severity === "warn" ? "yellow" : undefined} wrap="truncate-end">
              {f.severity === "warn" ? "!" : "i"} {f.kind}: {f.text}
            </Text>
          ))
        ) : (
          <Text dimColor>{selected ? (selected.flags ? "no flags on this run" : " ") : " "}</Text>
        )}
        <Text>
          {p.filterMode ? (
            <Text color="cyan">/{p.filter}█</Text>
          ) : p.filter ? (
            <Text color="cyan">filter: {p.filter}</Text>
          ) : null}
          <Text dimColor>
            {p.filterMode || p.filter ? "   " : ""}
            {p.shown.length.toLocaleString("en-US")} of {p.list.runs.length.toLocaleString("en-US")} recent runs shown, {p.list.total.toLocaleString("en-US")} in the store
          </Text>
        </Text>
        {p.scoring ? <Spinner label={`scoring ${p.list.total.toLocaleString("en-US")} runs against the predictor (Esc skips)`} /> : null}
        {p.notice ? <Text color="yellow">{p.notice}</Text> : null}
      </Box>
    </Box>
  );
}

function RunRow({ run, selected }: { run: ScoredRun; selected: boolean }) {
  const p = run.prediction;
  const cells = [
    whenText(run.startedAt),
    routeText(run),
    sizeText(run.files, run.bytes),
    formatDuration(run.totalMs),
    p ? `${formatDuration(p.durationMs)} (${formatDuration(p.lowMs)}–${formatDuration(p.highMs)})` : "…",
    flagMark(run),
  ];
  const text = `${selected ? "> " : "  "}${cells.map((c, i) => c.padEnd(COLUMNS[i]![1])).join("  ")}  ${run.id.slice(0, 8)}`;
  const mark = flagMark(run);
  return (
    <Text inverse={selected} color={mark === "!" ? "yellow" : undefined} wrap="truncate-end">
      {text}
    </Text>
  );
}

// The run list: a throughput sparkline over the history, then the most recent runs with route,
// size, duration, prediction and a flag mark; the cursor's row is highlighted.
import { Box, Text } from "ink";
import type { RunList, ScoredRun } from "../../analytics/index.ts";
import { listLayout, listZone, type ListLayout } from "./list-columns.ts";
import { flagMark, historySparkline, throughputCaption } from "./run-view.ts";
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

export function RunListScreen(p: RunListScreenProps) {
  const rows = Math.max(1, p.height);
  const top = Math.max(0, Math.min(p.cursor - Math.floor(rows / 2), p.shown.length - rows));
  const visible = p.shown.slice(top, top + rows);
  const selected = p.shown[p.cursor];
  const sparkWidth = Math.max(10, Math.min(p.width - 14, 100));
  const layout = listLayout(p.shown, p.width);
  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text bold>Throughput </Text>
        <Text color="green">{historySparkline(p.list.throughput, sparkWidth)}</Text>
      </Text>
      <Text dimColor wrap="truncate-end">
        {throughputCaption(p.list.throughput)}
      </Text>
      {p.list.fleet ? (
        <Text color={p.list.fleet.outliers.length > 0 ? "yellow" : undefined} wrap="truncate-end">
          {`Fleet (${p.list.fleet.hosts.length} hosts, 7 days): `}
          {p.list.fleet.outliers.length === 0
            ? "no host is an outlier for the same work"
            : `! ${p.list.fleet.outliers[0]!.text}${p.list.fleet.outliers.length > 1 ? ` (+${p.list.fleet.outliers.length - 1} more: blit diagnose --store)` : ""}`}
        </Text>
      ) : null}
      <Text bold wrap="truncate-end">
        {layout.header}
      </Text>
      {p.shown.length === 0 ? (
        <Text>{p.list.runs.length === 0 ? "No runs recorded yet: run 'blit copy' or 'blit mirror' and come back." : `No run matches '${p.filter}'.`}</Text>
      ) : (
        visible.map((r, i) => <RunRow key={r.id} run={r} layout={layout} selected={top + i === p.cursor} />)
      )}
      <Box marginTop={1} flexDirection="column">
        {selected?.flags && selected.flags.length > 0 ? (
          // Two flag lines at most: the list keeps its height on a short terminal.
          selected.flags.slice(0, 2).map((f) => (
            <Text key={f.kind} color={f.severity === "warn" ? "yellow" : undefined} wrap="truncate-end">
              {f.severity === "warn" ? "!" : "i"} {f.kind}: {f.text}
            </Text>
          ))
        ) : (
          <Text dimColor>{selected ? (selected.flags ? "no flags on this run" : " ") : " "}</Text>
        )}
        <Text wrap="truncate-end">
          {p.filterMode ? (
            <Text color="cyan">/{p.filter}█</Text>
          ) : p.filter ? (
            <Text color="cyan">filter: {p.filter}</Text>
          ) : null}
          <Text dimColor>
            {p.filterMode || p.filter ? "   " : ""}
            {p.shown.length.toLocaleString("en-US")} of {p.list.runs.length.toLocaleString("en-US")} recent runs shown, {p.list.total.toLocaleString("en-US")} in the store; times {listZone()}
          </Text>
        </Text>
        {p.scoring ? <Spinner label={`scoring ${p.list.total.toLocaleString("en-US")} runs against the predictor (Esc skips)`} /> : null}
        {p.notice ? (
          <Text color="yellow" wrap="truncate-end">
            {p.notice}
          </Text>
        ) : null}
      </Box>
    </Box>
  );
}

function RunRow({ run, layout, selected }: { run: ScoredRun; layout: ListLayout; selected: boolean }) {
  const mark = flagMark(run);
  return (
    <Text inverse={selected} color={mark === "!" ? "yellow" : undefined} wrap="truncate-end">
      {`${selected ? "> " : "  "}${layout.row(run)}`}
    </Text>
  );
}

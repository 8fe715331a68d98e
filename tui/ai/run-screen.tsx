// A run's page: actual against predicted with the error band, a bar per phase, the fast paths
// taken and refused, the flags, the linked trace summary, and (with `e`) the Explain panel.
import { Box, Text } from "ink";
import { formatDuration, type ExplainerAnswer } from "../../analytics/index.ts";
import type { RunDetail } from "./ai-source.ts";
import { ExplainPanel } from "./explain-panel.tsx";
import { bandBar, bandView, bar, fastPathLines, phaseRows, sizeText, traceLines } from "./run-view.ts";

export interface RunScreenProps {
  detail: RunDetail;
  width: number;
  explainer: string;
  explainOpen: boolean;
  answer?: ExplainerAnswer;
  selected: number;
  showNumbers: boolean;
}

export function RunScreen(p: RunScreenProps) {
  const d = p.detail.diagnosis;
  const r = d.run;
  const b = bandView(d);
  const twoColumns = p.explainOpen && p.width >= 120;
  const leftWidth = twoColumns ? Math.floor(p.width * 0.45) : p.width;
  // A phase row is "  name       BAR  pct time": 27 columns besides the bar.
  const barWidth = Math.max(8, Math.min(40, leftWidth - 28));
  const traces = traceLines(d.evidence);
  // Stacked under the header, the panel needs the room: the sections below the band give way.
  const full = !p.explainOpen || twoColumns;
  const details = (
    <Box flexDirection="column" width={twoColumns ? leftWidth : undefined}>
      <Text>
        <Text bold>Run {r.id}</Text>
      </Text>
      <Text wrap="truncate-middle">
        {r.command} {r.route}: {r.source} -&gt; {r.destination} ({r.sourceFs} -&gt; {r.destinationFs})
      </Text>
      <Text>
        started {r.startedAt.replace("T", " ").slice(0, 19)}, {r.status}; {sizeText(r.files, r.bytes)}, {r.workers} worker{r.workers === 1 ? "" : "s"}
      </Text>
      <Box marginTop={1} flexDirection="column">
        <Text>
          <Text bold>Actual {formatDuration(b.actualMs)}</Text> vs predicted {formatDuration(b.predictedMs)} (80% band {formatDuration(b.lowMs)}–{formatDuration(b.highMs)}):{" "}
          <Text color={b.verdict === "within the band" ? "green" : "yellow"}>{b.verdict}</Text>
        </Text>
        <Text>
          0 <Text color="cyan">{bandBar(b, Math.max(10, Math.min(80, leftWidth - 4)))}</Text>
        </Text>
        <Text dimColor>  ● actual  │ predicted  ░ 80% band</Text>
      </Box>
      {full ? (<>
      <Box marginTop={1} flexDirection="column">
        <Text bold>Phases</Text>
        {phaseRows(d.evidence).map((ph) => (
          <Text key={ph.name}>
            {"  "}
            {ph.name.padEnd(10)} <Text color="green">{bar(ph.share, barWidth)}</Text> {`${Math.round(ph.share * 100)}%`.padStart(4)} {formatDuration(ph.ms)}
          </Text>
        ))}
      </Box>
      <Box marginTop={1} flexDirection="column">
        <Text bold>Fast paths</Text>
        {fastPathLines(d.evidence).length === 0 ? <Text>  no bytes moved</Text> : null}
        {fastPathLines(d.evidence).map((l) => (
          <Text key={l} wrap="truncate-end">
            {"  "}
            {l}
          </Text>
        ))}
      </Box>
      <Box marginTop={1} flexDirection="column">
        <Text bold>Flags</Text>
        {d.flags.length === 0 ? <Text>  none</Text> : null}
        {d.flags.map((f) => (
          <Text key={f.kind} color={f.severity === "warn" ? "yellow" : undefined}>
            {"  "}
            {f.severity === "warn" ? "!" : "i"} {f.kind}: {f.text}
          </Text>
        ))}
      </Box>
      <Box marginTop={1} flexDirection="column">
        <Text bold>Trace</Text>
        {traces.length === 0 ? <Text dimColor>  no trace linked to this run ('blit trace ingest FILE --run ID')</Text> : null}
        {traces.map((t) => (
          <Text key={t} wrap="truncate-end">
            {"  "}
            {t}
          </Text>
        ))}
      </Box>
      </>) : null}
      {!p.explainOpen ? (
        <Box marginTop={1}>
          <Text dimColor>e explain this run · Esc back to the list · ? help · q quit</Text>
        </Box>
      ) : null}
    </Box>
  );
  if (!p.explainOpen) return details;
  const panel = (
    <ExplainPanel detail={p.detail} explainer={p.explainer} answer={p.answer} selected={p.selected} showNumbers={p.showNumbers} />
  );
  return twoColumns ? (
    <Box flexDirection="row">
      {details}
      <Box flexDirection="column" flexGrow={1} marginLeft={1}>
        {panel}
      </Box>
    </Box>
  ) : (
    <Box flexDirection="column">
      {details}
      {panel}
    </Box>
  );
}

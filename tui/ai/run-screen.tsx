// A run's page: actual against predicted with the error band, the causes (kind first), the
// machine around the run, its timeline (throughput with CPU and I/O pressure under it), a bar per
// phase, the flags, the fast paths taken and refused, the linked trace summary, and (with `e`)
// the Explain panel. It fits the terminal's height: sections that do not fit are left out.
import type { ReactNode } from "react";
import { Box, Text } from "ink";
import { CHART_CHROME, countOf, formatDuration, formatTime, NO_TIMELINE, timelineLines, type ExplainerAnswer } from "../../analytics/index.ts";
import type { RunDetail } from "./ai-source.ts";
import { ExplainPanel } from "./explain-panel.tsx";
import { bandBar, bandView, bar, causeLines, fastPathLines, machineLines, phaseRows, sizeText, traceLines } from "./run-view.ts";

export interface RunScreenProps {
  detail: RunDetail;
  width: number;
  explainer: string;
  explainOpen: boolean;
  answer?: ExplainerAnswer;
  selected: number;
  showNumbers: boolean;
  /** Rows the page may take (the terminal's, less the app's header and footer). */
  height: number;
}

/** The run's id, command and start lines above the band. */
const HEAD_ROWS = 3;
/** A cause is one line; more than this many give way to the machine and the timeline. */
const MAX_CAUSES = 3;

interface Section {
  title: string;
  rows: ReactNode[];
}

/** The page's sections in the order they are shown and kept: causes, machine, timeline, then the run's own detail. */
function pageSections(detail: RunDetail, width: number, barWidth: number): Section[] {
  const d = detail.diagnosis;
  const line = (text: string, color?: string) => (
    <Text key={text} wrap="truncate-end" color={color}>
      {"  "}
      {text}
    </Text>
  );
  const causes = causeLines(d).slice(0, MAX_CAUSES);
  const context = detail.report.context;
  const traces = traceLines(d.evidence);
  const paths = fastPathLines(d.evidence);
  const chartWidth = Math.max(8, Math.min(100, width - 2 - CHART_CHROME));
  return [
    { title: "Causes", rows: causes.length > 0 ? causes.map((c) => line(c, "yellow")) : [line(`none: ${d.explanation.summary}`)] },
    { title: "Machine", rows: context ? machineLines(context).map((l) => line(l)) : [line("no machine facts recorded (run recorded before blit captured them)")] },
    { title: "Timeline", rows: d.timeline.length > 0 ? timelineLines(d.timeline, chartWidth).map((l, i) => line(l, i === 0 ? "green" : undefined)) : [line(NO_TIMELINE)] },
    {
      title: "Phases",
      rows: phaseRows(d.evidence).map((ph) => (
        <Text key={ph.name} wrap="truncate-end">
          {"  "}
          {ph.name.padEnd(10)} <Text color="green">{bar(ph.share, barWidth)}</Text> {`${Math.round(ph.share * 100)}%`.padStart(4)} {formatDuration(ph.ms)}
        </Text>
      )),
    },
    { title: "Flags", rows: d.flags.length === 0 ? [line("none")] : d.flags.map((f) => line(`${f.severity === "warn" ? "!" : "i"} ${f.kind}: ${f.text}`, f.severity === "warn" ? "yellow" : undefined)) },
    { title: "Fast paths", rows: paths.length === 0 ? [line("no bytes moved")] : paths.map((l) => line(l)) },
    { title: "Trace", rows: traces.length === 0 ? [<Text key="none" dimColor wrap="truncate-end">  no trace linked to this run ('blit trace ingest FILE --run ID')</Text>] : traces.map((t) => line(t)) },
  ];
}

export function RunScreen(p: RunScreenProps) {
  const d = p.detail.diagnosis;
  const r = d.run;
  const b = bandView(d);
  const twoColumns = p.explainOpen && p.width >= 120;
  const leftWidth = twoColumns ? Math.floor(p.width * 0.45) : p.width;
  // A phase row is "  name       BAR  pct time": 27 columns besides the bar.
  const barWidth = Math.max(8, Math.min(40, leftWidth - 28));
  // Stacked under the header, the panel needs the room: the sections below the band give way.
  const full = !p.explainOpen || twoColumns;
  // What fits under the band on a terminal `p.height` rows tall, most telling first; on a short
  // terminal the sections lose their blank line, then the later ones give way (never the titles above).
  const gap = p.height >= 30 ? 1 : 0;
  // The run's head and its band, which stay above a stacked Explain panel.
  const headRows = HEAD_ROWS + gap + 2 + (gap ? 1 : 0);
  const all = pageSections(p.detail, leftWidth, barWidth);
  const sections: Section[] = [];
  let left = p.height - HEAD_ROWS - (gap ? 4 : 2);
  for (const sec of all) {
    const rows = gap + 1 + sec.rows.length;
    if (rows <= left) {
      sections.push(sec);
      left -= rows;
    }
  }
  const details = (
    <Box flexDirection="column" width={twoColumns ? leftWidth : undefined} flexShrink={0}>
      <Text>
        <Text bold>Run {r.id}</Text>
      </Text>
      <Text wrap="truncate-middle">
        {r.command} {r.route}: {r.source} -&gt; {r.destination} ({r.sourceFs} -&gt; {r.destinationFs})
      </Text>
      <Text wrap="truncate-end">
        started {formatTime(r.startedAt)}, {r.status}; {sizeText(r.files, r.bytes)}, {countOf(r.workers, "worker")}
      </Text>
      <Box marginTop={gap} flexDirection="column">
        <Text wrap="truncate-end">
          <Text bold>Actual {formatDuration(b.actualMs)}</Text> vs predicted {formatDuration(b.predictedMs)} (80% band {formatDuration(b.lowMs)}–{formatDuration(b.highMs)}):{" "}
          <Text color={b.verdict === "within the band" ? "green" : "yellow"}>{b.verdict}</Text>
        </Text>
        <Text>
          0 <Text color="cyan">{bandBar(b, Math.max(10, Math.min(80, leftWidth - 4)))}</Text>
        </Text>
        {gap ? <Text dimColor>  ● actual  │ predicted  ░ 80% band</Text> : null}
      </Box>
      {full ? sections.map((sec) => (
        <Box key={sec.title} marginTop={gap} flexDirection="column">
          <Text bold>{sec.title}</Text>
          {sec.rows}
        </Box>
      )) : null}
    </Box>
  );
  if (!p.explainOpen) return details;
  const panel = (
    <ExplainPanel
      detail={p.detail}
      explainer={p.explainer}
      answer={p.answer}
      selected={p.selected}
      showNumbers={p.showNumbers}
      height={twoColumns ? p.height : p.height - headRows}
    />
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

// The Explain panel: who answered, any notice (fallback, dropped claims), the summary, then each
// cause and suggestion with the evidence ids it cites beside it; `n` shows the numbers behind
// the chosen claim, and a suggestion shows the exact command line to try.
import { Box, Text } from "ink";
import type { ExplainerAnswer } from "../../analytics/index.ts";
import type { RunDetail } from "./ai-source.ts";
import { answeredByText, citedFacts, claimsOf, droppedLines, factValue } from "./run-view.ts";
import { Spinner } from "./spinner.tsx";
import { tryCommand } from "./try-command.ts";

export interface ExplainPanelProps {
  detail: RunDetail;
  /** The explainer that will answer ("model NAME" or "offline rules"). */
  explainer: string;
  /** undefined while the explainer works. */
  answer?: ExplainerAnswer;
  selected: number;
  showNumbers: boolean;
  /** Rows the panel may take, its border included: what does not fit gives way, the title never. */
  height: number;
}

/** The panel's border, top and bottom. */
const BORDER_ROWS = 2;

export function ExplainPanel({ detail, explainer, answer, selected, showNumbers, height }: ExplainPanelProps) {
  const inner = Math.max(2, height - BORDER_ROWS);
  if (!answer) {
    return (
      <Box flexDirection="column" borderStyle="round" paddingX={1} height={inner + BORDER_ROWS} overflow="hidden">
        <Text bold>Explain</Text>
        <Spinner label={`asking ${explainer} (Esc cancels; the offline rules then answer)`} />
      </Box>
    );
  }
  const claims = claimsOf(answer);
  const chosenAt = Math.max(0, Math.min(selected, claims.length - 1));
  const chosen = claims[chosenAt];
  const tryFlag = chosen?.flag ?? claims.find((c) => c.flag)?.flag;
  // Rows, most telling first: the title, notices (two at most), the summary, one line per claim,
  // the command to try, then the chosen claim's text (or its numbers) in what is left.
  const notes = [...answer.notices.map((n) => `Notice: ${n}`), ...droppedLines(answer)].slice(0, inner >= 10 ? 2 : 0);
  const roomy = inner >= 12;
  const noteRows = roomy ? 2 : 1;
  const summaryRows = roomy ? 2 : 1;
  const tryRows = tryFlag ? (roomy ? 2 : 1) : 0;
  const fixed = 1 + notes.length * noteRows + summaryRows + tryRows;
  const claimRows = Math.min(claims.length, Math.max(1, inner - fixed - 2));
  const detailRows = Math.max(0, inner - fixed - Math.max(claimRows, 1));
  const firstClaim = Math.max(0, Math.min(chosenAt - Math.floor(claimRows / 2), claims.length - claimRows));
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} height={inner + BORDER_ROWS} overflow="hidden">
      <Text wrap="truncate-end">
        <Text bold>Explain</Text>
        <Text> · answered by: </Text>
        <Text color={answer.answeredBy.kind === "llm" ? "magenta" : "cyan"}>{answeredByText(answer)}</Text>
      </Text>
      {notes.map((n) => (
        <Box key={n} height={noteRows} overflow="hidden" flexShrink={0}>
          <Text color="yellow">{n}</Text>
        </Box>
      ))}
      <Box height={summaryRows} overflow="hidden" flexShrink={0}>
        <Text>{answer.explanation.summary}</Text>
      </Box>
      {claims.length === 0 ? <Text dimColor>No causes or suggestions: nothing to change.</Text> : null}
      {claims.slice(firstClaim, firstClaim + claimRows).map((c, k) => {
        const i = firstClaim + k;
        return (
          <Text key={c.label} inverse={i === chosenAt} wrap="truncate-end">
            {i === chosenAt ? "> " : "  "}
            <Text bold>{c.label}</Text> [{c.evidence.join(", ")}] <Text dimColor>{c.kind === "cause" ? c.detail : c.flag ?? "no flag"}</Text>
          </Text>
        );
      })}
      {tryFlag ? (
        <Box height={tryRows} overflow="hidden" flexShrink={0}>
          <Text>
            <Text bold>Try: </Text>
            <Text color="green">{tryCommand(detail.report, tryFlag)}</Text>
          </Text>
        </Box>
      ) : null}
      {chosen && detailRows > 0 ? (
        <Box flexDirection="column" height={detailRows} overflow="hidden" flexShrink={0}>
          {showNumbers ? (
            <>
              <Text bold>Numbers behind {chosen.label}:</Text>
              {citedFacts(detail.diagnosis.evidence, chosen.evidence).slice(0, detailRows - 1).map((e) => (
                <Text key={e.id} wrap="truncate-end">
                  {"  "}
                  <Text color="cyan">{e.id.padEnd(4)}</Text> {e.label}: <Text bold>{factValue(e)}</Text> <Text dimColor>({e.text})</Text>
                </Text>
              ))}
            </>
          ) : (
            <Text>
              <Text bold>{chosen.label}: </Text>
              {chosen.text}
            </Text>
          )}
        </Box>
      ) : null}
    </Box>
  );
}

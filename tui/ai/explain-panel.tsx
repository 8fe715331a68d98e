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
}

export function ExplainPanel({ detail, explainer, answer, selected, showNumbers }: ExplainPanelProps) {
  if (!answer) {
    return (
      <Box flexDirection="column" borderStyle="round" paddingX={1}>
        <Text bold>Explain</Text>
        <Spinner label={`asking ${explainer} (Esc cancels; the offline rules then answer)`} />
      </Box>
    );
  }
  const claims = claimsOf(answer);
  const chosen = claims[Math.min(selected, claims.length - 1)];
  const firstFlag = claims.find((c) => c.flag);
  const tryFlag = chosen?.flag ?? firstFlag?.flag;
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text>
        <Text bold>Explain</Text>
        <Text> · answered by: </Text>
        <Text color={answer.answeredBy.kind === "llm" ? "magenta" : "cyan"}>{answeredByText(answer)}</Text>
      </Text>
      {answer.notices.map((n) => (
        <Text key={n} color="yellow">
          Notice: {n}
        </Text>
      ))}
      {droppedLines(answer).map((l) => (
        <Text key={l} color="yellow">
          {l}
        </Text>
      ))}
      <Text>{answer.explanation.summary}</Text>
      {claims.map((c, i) => (
        <Box key={c.label} flexDirection="column" marginTop={i === 0 || claims[i - 1]!.kind !== c.kind ? 1 : 0}>
          <Text inverse={i === selected}>
            {i === selected ? "> " : "  "}
            <Text bold>{c.label}</Text> [{c.evidence.join(", ")}] <Text dimColor>{c.kind === "cause" ? c.detail : c.flag ?? "no flag"}</Text>
          </Text>
          <Text>    {c.text}</Text>
        </Box>
      ))}
      {claims.length === 0 ? <Text dimColor>No causes or suggestions: nothing to change.</Text> : null}
      {showNumbers && chosen ? (
        <Box flexDirection="column" marginTop={1}>
          <Text bold>Numbers behind {chosen.label}:</Text>
          {citedFacts(detail.diagnosis.evidence, chosen.evidence).map((e) => (
            <Text key={e.id}>
              {"  "}
              <Text color="cyan">{e.id.padEnd(4)}</Text> {e.label}: <Text bold>{factValue(e)}</Text> <Text dimColor>({e.text})</Text>
            </Text>
          ))}
        </Box>
      ) : null}
      {tryFlag ? (
        <Box marginTop={1}>
          <Text>
            <Text bold>Try: </Text>
            <Text color="green">{tryCommand(detail.report, tryFlag)}</Text>
          </Text>
        </Box>
      ) : null}
      <Text dimColor>↑↓ choose a claim · n {showNumbers ? "hide" : "show"} its numbers · e close · Esc back</Text>
    </Box>
  );
}

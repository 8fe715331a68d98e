// The `?` screen: every key of the diagnose UI, kept to the rows the terminal has.
import { Box, Text } from "ink";

const KEYS: [string, string][] = [
  ["↑ ↓  k j", "move in the run list; in the Explain panel, choose a claim"],
  ["PgUp PgDn", "move a page in the run list"],
  ["Enter", "open the run under the cursor"],
  ["/", "filter the runs (id, route, path, status, flag); Enter keeps it, Esc clears it"],
  ["e", "on a run's page: open or close the Explain panel (asks the explainer)"],
  ["n", "in the Explain panel: show or hide the numbers the chosen claim rests on"],
  ["Esc", "cancel what is loading (a model call falls back to the offline rules); else go back"],
  ["← Backspace", "back to the run list"],
  ["?", "this help"],
  ["q", "quit"],
  ["Ctrl-C", "quit; the command exits 130, as an interrupted run does"],
];

const KEY_COLUMN = 13;

export function HelpScreen({ explainer, height }: { explainer: string; /** Rows the screen may take. */ height: number }) {
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1} height={Math.max(4, height)} overflow="hidden">
      <Box flexShrink={0}>
        <Text bold>Keys</Text>
      </Box>
      {KEYS.map(([key, what]) => (
        <Box key={key} flexShrink={0}>
          <Box width={KEY_COLUMN} flexShrink={0}>
            <Text color="cyan">{key}</Text>
          </Box>
          <Text>{what}</Text>
        </Box>
      ))}
      {/* On a short terminal this paragraph gives way, never a key. */}
      <Box marginTop={1}>
        <Text>
          Explainer: {explainer}. A model is asked only when OPENAI_BASE_URL, OPENAI_API_KEY and BLIT_AI_MODEL are set; it is
          sent the run's evidence bundle (never file contents): 'blit diagnose --ai-preview RUN_ID' prints it.
        </Text>
      </Box>
    </Box>
  );
}

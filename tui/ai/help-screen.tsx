// The `?` screen: every key of the diagnose UI.
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
];

export function HelpScreen({ explainer }: { explainer: string }) {
  return (
    <Box flexDirection="column" borderStyle="round" paddingX={1}>
      <Text bold>Keys</Text>
      {KEYS.map(([key, what]) => (
        <Text key={key}>
          <Text color="cyan">{key.padEnd(13)}</Text>
          {what}
        </Text>
      ))}
      <Text> </Text>
      <Text>Explainer: {explainer}. A model is asked only when OPENAI_BASE_URL, OPENAI_API_KEY and BLIT_AI_MODEL are set;</Text>
      <Text>it is sent the run's evidence bundle (never file contents): 'blit diagnose --ai-preview RUN_ID' prints it.</Text>
    </Box>
  );
}

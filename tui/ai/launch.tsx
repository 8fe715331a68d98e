// Starting the full-screen UI on a terminal and waiting until the person quits.
import { render } from "ink";
import type { AiSource } from "./ai-source.ts";
import { DiagnoseApp } from "./diagnose-app.tsx";

export interface LaunchOptions {
  source: AiSource;
  /** Open straight at this run. */
  initialRunId?: string;
  /** @default process.stdout */
  stdout?: NodeJS.WriteStream;
  /** @default process.stdin */
  stdin?: NodeJS.ReadStream;
}

/**
 * Renders the UI in the terminal's alternate screen (restored on exit) and resolves when it quits:
 * "quit" for q, "interrupted" for Ctrl-C (a key in the terminal's raw mode) or a SIGINT from outside.
 */
export async function launchDiagnoseUi(options: LaunchOptions): Promise<"quit" | "interrupted"> {
  let outcome: "quit" | "interrupted" = "quit";
  const stdout = options.stdout ?? process.stdout;
  // A terminal made narrower re-wraps the old frame's long lines, and Ink, erasing the lines it
  // counted, leaves their tails on screen: clear the screen before Ink redraws (this listener is
  // added before Ink's own, so it runs first).
  const clearOnResize = () => stdout.write("\x1b[2J\x1b[H");
  stdout.on("resize", clearOnResize);
  const instance = render(<DiagnoseApp source={options.source} initialRunId={options.initialRunId} onInterrupt={() => (outcome = "interrupted")} />, {
    stdout,
    stdin: options.stdin ?? process.stdin,
    alternateScreen: true,
    // Ctrl-C is the app's own key, so that the command can end with 130 like any interrupted run.
    exitOnCtrlC: false,
    // The caller opens the UI only on a terminal; a CI variable in the environment (Ink's own
    // test for "non-interactive") must not turn it into a blank screen until exit.
    interactive: true,
  });
  const onSignal = () => {
    outcome = "interrupted";
    instance.unmount();
  };
  process.once("SIGINT", onSignal);
  try {
    await instance.waitUntilExit();
  } finally {
    process.off("SIGINT", onSignal);
    stdout.off("resize", clearOnResize);
  }
  return outcome;
}

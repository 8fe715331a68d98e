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

/** Renders the UI in the terminal's alternate screen (restored on exit) and resolves when it quits. */
export async function launchDiagnoseUi(options: LaunchOptions): Promise<void> {
  const instance = render(<DiagnoseApp source={options.source} initialRunId={options.initialRunId} />, {
    stdout: options.stdout ?? process.stdout,
    stdin: options.stdin ?? process.stdin,
    alternateScreen: true,
    exitOnCtrlC: true,
    // The caller opens the UI only on a terminal; a CI variable in the environment (Ink's own
    // test for "non-interactive") must not turn it into a blank screen until exit.
    interactive: true,
  });
  await instance.waitUntilExit();
}

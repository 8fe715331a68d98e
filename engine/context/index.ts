// The context of a run (issue 13): what the machine did around it, recorded by the process that
// runs it (a local run, the local end of a push or pull, blitd for its side). engine/ and
// engine/remote/ import this folder only through this file; the contract is engine/run-context.ts.
export { startContext, ContextRecorder } from "./recorder.ts";
export type { CapturedContext, ContextOptions } from "./recorder.ts";
export { scanOpeners } from "./openers.ts";
export type { Opener, ScanLimits } from "./openers.ts";

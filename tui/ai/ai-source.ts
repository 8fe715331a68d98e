// Where the diagnose UI gets its data: the telemetry store through analytics' public API, and
// the explainer (a model when configured, else the offline rules). One object, so the screens
// and the Markdown output read the same things the same way.
import {
  diagnoseRun, explainerLabel, explainWithLlm, getRun, recentRuns, scoreRuns,
  type AiSettings, type ExplainerAnswer, type RunDiagnosis, type RunList,
} from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { transferFlagNames } from "../transfer-flags.ts";

export interface RunDetail {
  diagnosis: RunDiagnosis;
  /** The run's report as recorded: its options give the command line to try. */
  report: RunReport;
}

export interface AiSource {
  /** The store file. */
  readonly storePath: string;
  /** "model NAME" or "offline rules": who will answer, shown at all times. */
  readonly explainer: string;
  /** The most recent runs, without predictions: the first screen. */
  recentRuns(): Promise<RunList>;
  /** The same list with predictions and flags. */
  scoreRuns(list: RunList): Promise<RunList>;
  /** One run diagnosed (a unique id prefix works too; the latest run without one). Rejects with DiagnoseError for no such run. */
  runDetail(id?: string): Promise<RunDetail>;
  /** Explains a run; never rejects (the rules answer when the model cannot). */
  explain(detail: RunDetail, signal?: AbortSignal): Promise<ExplainerAnswer>;
}

export interface StoreSourceOptions {
  /** The store file. */
  path: string;
  settings: AiSettings;
  /**
   * Most recent runs in the list.
   * @default 500
   */
  limit?: number;
}

/** The real source: the store at `path`, the explainer `settings` describe. */
export function storeSource(options: StoreSourceOptions): AiSource {
  const { path, settings } = options;
  return {
    storePath: path,
    explainer: explainerLabel(settings),
    recentRuns: () => recentRuns({ path, limit: options.limit ?? 500 }),
    scoreRuns: (list) => scoreRuns(list),
    async runDetail(id) {
      const diagnosis = await diagnoseRun({ path, id });
      const report = await getRun(diagnosis.run.id, { path });
      if (!report) throw new Error(`run ${diagnosis.run.id} disappeared from the store`);
      return { diagnosis, report };
    },
    explain: (detail, signal) =>
      explainWithLlm(
        { run: detail.diagnosis.run, evidence: detail.diagnosis.evidence },
        { settings, knownFlags: transferFlagNames(), path, signal },
      ),
  };
}

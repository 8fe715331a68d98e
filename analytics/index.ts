// The analytics folder's public API. Other folders import from here only.

export { telemetryPath, telemetryEnabled, spoolDirFor } from "./telemetry-path.ts";
export { record, startRecording } from "./record.ts";
export type { Recording, RecordOptions, TelemetryResult } from "./record.ts";
export { recordMany } from "./record-many.ts";
export type { RecordManyOptions, RecordManyResult } from "./record-many.ts";
export { listRuns, getRun } from "./runs-query.ts";
export type { ListOptions, ReadOptions, RunSummary } from "./runs-query.ts";
export { formatRunsTable } from "./runs-table.ts";
export type { RunsTableOptions } from "./runs-table.ts";
export { formatBytes, formatDuration, formatRate } from "./human-units.ts";
export { withStore } from "./store.ts";
export { preloadTelemetry } from "./duckdb-module.ts";
export type { OpenOptions, OpenStore } from "./store.ts";
export type { MergeOutcome } from "./spool.ts";
export { MIGRATIONS, SCHEMA_VERSION } from "./migrations.ts";
export type { Migration } from "./migrations.ts";
export { TelemetryError } from "./telemetry-error.ts";
export type { TelemetryErrorCode } from "./telemetry-error.ts";
// Predictor, anomaly flags, evidence and explanations (blit diagnose / predict / tune).
export { predictFor } from "./predictor-store.ts";
export type { PredictInput, PredictForOptions } from "./predictor-store.ts";
export { fitPredictor, modelFor, predictShape, DEFAULT_COEFFICIENTS, MIN_ROUTE_RUNS, MIN_PAIR_RUNS } from "./predictor.ts";
export type { HoldOut, Model, Prediction, PredictedTerm, Predictor, TermName, WorkShape } from "./predictor.ts";
export { historyRunFromReport, loadHistory, loadHistoryRun, runTimeline } from "./run-history.ts";
export type { HistoryRun } from "./run-history.ts";
export { Scorer } from "./anomalies.ts";
export type { Flag, FlagKind, Reference, RunScore } from "./anomalies.ts";
export { buildEvidence } from "./evidence.ts";
export type { Evidence, EvidenceInput } from "./evidence.ts";
export { explainWithRules } from "./rules-explainer.ts";
export { uncitedClaims } from "./explanation.ts";
export type { Cause, Confidence, Explanation, Suggestion } from "./explanation.ts";
export { diagnoseRun, diagnoseHistory, DiagnoseError } from "./diagnose.ts";
export type {
  Diagnosis, DiagnoseErrorCode, DiagnoseHistoryOptions, DiagnoseRunOptions, HistoryDiagnosis, ModelSummary,
  PredictionSummary, RunDiagnosis, RunLine, Trend, TrendHalf,
} from "./diagnose.ts";
export { formatDiagnosis } from "./diagnose-format.ts";
export { CHART_CHROME, NO_TIMELINE, resample, sparkline, throughputOf, timelineLines } from "./timeline-chart.ts";
export type { DiagnoseFormat } from "./diagnose-format.ts";
export {
  DIAGNOSE_REPORT_SCHEMA, EVIDENCE_SCHEMA, EXPLANATION_SCHEMA, HISTORY_DIAGNOSIS_SCHEMA, RUN_DIAGNOSIS_SCHEMA,
} from "./diagnose-schema.ts";
export { schemaProblems } from "./schema-check.ts";
export type { JsonSchema } from "./schema-check.ts";
export { parseSince } from "./time-window.ts";
export { tune } from "./calibration.ts";
export type { TuneOptions, TuneResult } from "./calibration.ts";
export { tunedWorkers } from "./tuned-settings.ts";
export type { TrialSummary, TunedSetting, TunedWorkersOptions } from "./tuned-settings.ts";
// `blit diagnose --ai`: the LLM explainer (validated, cached, redactable) and the UI's run list.
export { aiSettings, explainerLabel, missingAiSettings, DEFAULT_AI_TIMEOUT_MS } from "./ai-settings.ts";
export type { AiSettings, AiSettingsInput } from "./ai-settings.ts";
export { explainWithLlm, previewRequest } from "./llm-explainer.ts";
export type { AnsweredBy, ExplainerAnswer, ExplainOptions, ExplainTarget, Preview } from "./llm-explainer.ts";
export { buildChatRequest, evidenceHash, PROMPT_VERSION } from "./llm-request.ts";
export type { ChatRequest, RequestInput } from "./llm-request.ts";
export { validateAnswer, unknownFlag } from "./answer-validation.ts";
export type { DroppedClaim, Validation } from "./answer-validation.ts";
export { cachedAnswer, cacheAnswer } from "./answer-cache.ts";
export type { CacheKey, CachedAnswer } from "./answer-cache.ts";
export { redactEvidence } from "./redaction.ts";
export type { Placeholder, RedactInput, Redaction } from "./redaction.ts";
export { recentRuns, scoreRuns } from "./run-list.ts";
export type { RunList, RunListEntry, RunListOptions } from "./run-list.ts";
// Cause rules over the run's context, their one list of kinds, and which runs are learned from.
export { CAUSE_KINDS, contextFindings, rankFindings } from "./causes.ts";
export type { CauseKind, Finding, Which } from "./causes.ts";
export { contentionIn, deviceSignature, HEALTHY_LIMITS, unhealthyReason } from "./healthy-runs.ts";
export { learnsFrom } from "./predictor.ts";
export type { RulesOptions } from "./rules-explainer.ts";

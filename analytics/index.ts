// The analytics folder's public API. Other folders import from here only.

export { telemetryPath, telemetryEnabled, spoolDirFor } from "./store/telemetry-path.ts";
export { record, startRecording } from "./store/record.ts";
export type { Recording, RecordOptions, TelemetryResult } from "./store/record.ts";
export { recordMany } from "./store/record-many.ts";
export type { RecordManyOptions, RecordManyResult } from "./store/record-many.ts";
export { listRuns, getRun } from "./store/runs-query.ts";
export type { ListOptions, ReadOptions } from "./store/runs-query.ts";
// The one read model of a recorded run (history, lists, predictor, diagnosis, TUI).
export { loadHistory, loadRecentRuns, loadRunRecord, runRecordFromReport, runTimeline } from "./store/run-record.ts";
export type { RunRecord, RunVerdict, ScoredRun } from "./store/run-record.ts";
export { formatRunsTable } from "./store/runs-table.ts";
export type { RunsTableOptions } from "./store/runs-table.ts";
export { countOf, formatBytes, formatBytesPerSec, formatCount, formatDuration, formatIsoTime, formatRate, formatTime, MIB } from "./store/human-units.ts";
export type { TimeFormat } from "./store/human-units.ts";
export { withStore } from "./store/store.ts";
// A fleet: Parquet exports of many hosts' stores (hive-partitioned by host and day), read in place.
export { exportTelemetry, importTelemetry } from "./store/fleet-export.ts";
export type { ExportOptions, ImportOptions, TransferCounts } from "./store/fleet-export.ts";
export { FLEET_HISTORY_LIMIT, isFleetSpec } from "./store/fleet-store.ts";
export { sqlIdent, sqlString } from "./store/sql-text.ts";
export { EXPORTED_TABLES } from "./store/fleet-layout.ts";
export { outlierLine, outliersByHost } from "./diagnose/fleet-view.ts";
export type { FleetGroup, FleetHost, FleetOutlier, FleetScale, FleetShape, FleetView } from "./diagnose/fleet-view.ts";
export { preloadTelemetry } from "./store/duckdb-module.ts";
export type { OpenOptions, OpenStore } from "./store/store.ts";
export type { MergeOutcome } from "./store/spool.ts";
export { MIGRATIONS, SCHEMA_VERSION } from "./store/migrations.ts";
export type { Migration } from "./store/migrations.ts";
export { TelemetryError } from "./store/telemetry-error.ts";
export type { TelemetryErrorCode } from "./store/telemetry-error.ts";
// Predictor, anomaly flags, evidence and explanations (blit diagnose / predict / tune).
export { predictFor } from "./predict/predictor-store.ts";
export type { PredictInput, PredictForOptions } from "./predict/predictor-store.ts";
export { fitPredictor, modelFor, predictShape, DEFAULT_COEFFICIENTS, MIN_ROUTE_RUNS, MIN_PAIR_RUNS } from "./predict/predictor.ts";
export type { HoldOut, Model, Prediction, PredictedTerm, Predictor, TermName, WorkShape } from "./predict/predictor.ts";
export { Scorer, verdictOf } from "./diagnose/anomalies.ts";
export type { Flag, FlagKind, Reference, RunScore } from "./diagnose/anomalies.ts";
export { buildEvidence } from "./diagnose/evidence.ts";
export type { Evidence, EvidenceInput } from "./diagnose/evidence.ts";
export { explainWithRules } from "./diagnose/rules-explainer.ts";
export { uncitedClaims } from "./diagnose/explanation.ts";
export type { Cause, Confidence, Explanation, Suggestion } from "./diagnose/explanation.ts";
export { diagnoseRun, diagnoseHistory, DiagnoseError } from "./diagnose/diagnose.ts";
export type {
  Diagnosis, DiagnoseErrorCode, DiagnoseHistoryOptions, DiagnoseRunOptions, HistoryDiagnosis, ModelSummary,
  PredictionSummary, RunDiagnosis, RunLine, Trend, TrendHalf,
} from "./diagnose/diagnose.ts";
export { formatDiagnosis } from "./diagnose/diagnose-format.ts";
export { CHART_CHROME, NO_TIMELINE, resample, sparkline, throughputOf, timelineLines } from "./diagnose/timeline-chart.ts";
export type { DiagnoseFormat } from "./diagnose/diagnose-format.ts";
export {
  DIAGNOSE_REPORT_SCHEMA, EVIDENCE_SCHEMA, EXPLANATION_SCHEMA, HISTORY_DIAGNOSIS_SCHEMA, RUN_DIAGNOSIS_SCHEMA,
} from "./diagnose/diagnose-schema.ts";
export { schemaProblems } from "./store/schema-check.ts";
export type { JsonSchema } from "./store/schema-check.ts";
export { parseSince } from "./store/time-window.ts";
export { tune } from "./predict/calibration.ts";
export type { TuneOptions, TuneResult } from "./predict/calibration.ts";
export { tunedWorkers } from "./predict/tuned-settings.ts";
export type { TrialSummary, TunedSetting, TunedWorkersOptions } from "./predict/tuned-settings.ts";
// `blit diagnose --ai`: the LLM explainer (validated, cached, redactable) and the UI's run list.
export { aiSettings, explainerLabel, missingAiSettings, DEFAULT_AI_TIMEOUT_MS } from "./ai/ai-settings.ts";
export type { AiSettings, AiSettingsInput } from "./ai/ai-settings.ts";
export { explainWithLlm, previewRequest } from "./ai/llm-explainer.ts";
export type { AnsweredBy, ExplainerAnswer, ExplainOptions, ExplainTarget, Preview } from "./ai/llm-explainer.ts";
export { buildChatRequest, evidenceHash, PROMPT_VERSION } from "./ai/llm-request.ts";
export type { ChatRequest, RequestInput } from "./ai/llm-request.ts";
export { validateAnswer, unknownFlag } from "./ai/answer-validation.ts";
export type { DroppedClaim, Validation } from "./ai/answer-validation.ts";
export { cachedAnswer, cacheAnswer } from "./ai/answer-cache.ts";
export type { CacheKey, CachedAnswer } from "./ai/answer-cache.ts";
export { redactEvidence } from "./ai/redaction.ts";
export type { Placeholder, RedactInput, Redaction } from "./ai/redaction.ts";
export { recentRuns, scoreRuns } from "./store/run-list.ts";
export type { RunList, RunListOptions } from "./store/run-list.ts";
// Cause rules over the run's context, their one list of kinds, and which runs are learned from.
export { CAUSE_KINDS, contextFindings, rankFindings } from "./diagnose/causes.ts";
export type { CauseKind, Finding, Which } from "./diagnose/causes.ts";
export { contentionIn, deviceSignature, HEALTHY_LIMITS, unhealthyReason } from "./predict/healthy-runs.ts";
export { learnsFrom } from "./predict/predictor.ts";
export type { RulesOptions } from "./diagnose/rules-explainer.ts";

// JSON Schemas of what `blit diagnose --format json` prints and of an explainer's answer (the
// rules explainer's, and later an LLM's, which is checked against EXPLANATION_SCHEMA before use).
import { CAUSE_KINDS } from "./causes.ts";
import type { JsonSchema } from "../store/schema-check.ts";

const str: JsonSchema = { type: "string" };
const num: JsonSchema = { type: "number" };
const nonNeg: JsonSchema = { type: "number", minimum: 0 };
const int: JsonSchema = { type: "integer", minimum: 0 };
const numOrNull: JsonSchema = { type: ["number", "null"] };
const evidenceIds: JsonSchema = { type: "array", minItems: 1, items: { type: "string", pattern: "^E[1-9][0-9]*$" } };

function object(properties: Record<string, JsonSchema>, optional: readonly string[] = []): JsonSchema {
  return {
    type: "object",
    properties,
    required: Object.keys(properties).filter((k) => !optional.includes(k)),
    additionalProperties: false,
  };
}

export const EXPLANATION_SCHEMA: JsonSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "blit diagnose explanation",
  description: "Causes and suggestions for one run; every claim cites evidence ids (E1, E2, ...) of the run's bundle.",
  ...object(
    {
      summary: { type: "string", description: "One or two sentences for a person." },
      causes: {
        type: "array",
        items: object(
          {
            kind: { type: "string", enum: [...CAUSE_KINDS], description: "What kind of cause (README: blit diagnose, cause kinds)." },
            text: str,
            evidence: evidenceIds,
            confidence: { type: "string", enum: ["high", "medium", "low"] },
            impactMs: { type: "number", minimum: 0, description: "Estimated ms of the slowdown this cause accounts for." },
          },
          ["kind", "impactMs"],
        ),
      },
      suggestions: {
        type: "array",
        items: object(
          {
            text: str,
            flag: { type: "string", description: "The exact flag or setting, e.g. \"--workers 8\"." },
            expectedEffect: str,
            evidence: evidenceIds,
          },
          ["flag"],
        ),
      },
    },
  ),
};

export const EVIDENCE_SCHEMA: JsonSchema = object(
  {
    id: { type: "string", pattern: "^E[1-9][0-9]*$" },
    key: str,
    label: str,
    value: { type: ["number", "string", "boolean"] },
    unit: str,
    text: str,
    parts: { type: "object", description: "The numbers and names behind text, for facts with more than one (trace facts)." },
  },
  ["parts"],
);

const FLAG_SCHEMA: JsonSchema = object({
  kind: {
    type: "string",
    enum: ["slow-vs-prediction", "enumeration-heavy", "delete-heavy", "throughput-collapse", "throttled", "errors"],
  },
  severity: { type: "string", enum: ["warn", "info"] },
  text: str,
  value: num,
  unit: str,
});

const HOLDOUT_SCHEMA: JsonSchema = object({
  method: { type: "string", enum: ["leave-one-out", "10-fold", "none"] },
  runs: int,
  mdape: { type: ["number", "null"], minimum: 0 },
  ratioLow: nonNeg,
  ratioHigh: nonNeg,
});

const MODEL_SCHEMA: JsonSchema = object({
  key: str,
  route: str,
  sourceFs: str,
  destinationFs: str,
  basis: { type: "string", enum: ["fitted", "default"] },
  terms: { type: "array", items: object({ term: { type: "string", enum: ["fixed", "perFile", "perByte", "perEntry", "perDir"] }, msEach: nonNeg }) },
  samples: int,
  trimmed: int,
  holdout: HOLDOUT_SCHEMA,
  note: str,
});

// A RunRecord (analytics/store/run-record.ts), the one shape of a run in every report.
const RUN_RECORD_PROPERTIES: Record<string, JsonSchema> = {
  id: str,
  startedAt: str,
  startedMs: nonNeg,
  finishedAt: str,
  command: str,
  route: str,
  status: str,
  exitCode: int,
  source: str,
  destination: str,
  sourceFs: str,
  destinationFs: str,
  transport: str,
  files: int,
  bytes: int,
  dirs: int,
  symlinks: int,
  smallFiles: int,
  planned: int,
  plannedBytes: int,
  copied: int,
  copiedBytes: int,
  skipped: int,
  deleted: int,
  errorCount: int,
  enumerateMs: nonNeg,
  planMs: nonNeg,
  transferMs: nonNeg,
  deleteMs: nonNeg,
  totalMs: nonNeg,
  workers: int,
  requestedWorkers: int,
  strategy: str,
  bwlimit: nonNeg,
  dryRun: { type: "boolean" },
  checksum: { type: "boolean" },
  mainFastPath: str,
  context: { type: "object", description: "The machine around the run (engine/run-context.ts RunContext), when recorded." },
};
const RUN_RECORD_OPTIONAL = ["finishedAt", "mainFastPath", "context"];

const RUN_RECORD_SCHEMA: JsonSchema = object(RUN_RECORD_PROPERTIES, RUN_RECORD_OPTIONAL);

// A history report's line: the run and its verdict (RunVerdict).
const RUN_LINE_SCHEMA: JsonSchema = object(
  {
    ...RUN_RECORD_PROPERTIES,
    prediction: object({ durationMs: nonNeg, lowMs: nonNeg, highMs: nonNeg }),
    peerRatio: nonNeg,
    score: numOrNull,
    flags: { type: "array", items: FLAG_SCHEMA },
    cause: object({ kind: { type: "string", enum: [...CAUSE_KINDS] }, text: str }),
  },
  [...RUN_RECORD_OPTIONAL, "cause"],
);

const HALF_SCHEMA: JsonSchema = {
  type: ["object", "null"],
  properties: { runs: int, from: str, to: str, medianRatio: nonNeg, medianRateMBps: numOrNull },
  required: ["runs", "from", "to", "medianRatio", "medianRateMBps"],
  additionalProperties: false,
};

export const RUN_DIAGNOSIS_SCHEMA: JsonSchema = object({
  kind: { const: "run", type: "string" },
  generatedAt: str,
  store: str,
  explainer: { type: "string", enum: ["rules", "llm"] },
  run: RUN_RECORD_SCHEMA,
  prediction: object({
    durationMs: nonNeg, lowMs: nonNeg, highMs: nonNeg, unthrottledMs: nonNeg, throttleFloorMs: numOrNull, note: str, model: MODEL_SCHEMA,
  }),
  score: object({
    ratio: nonNeg,
    peerRatio: nonNeg,
    score: numOrNull,
    reference: object({
      scope: { type: "string", enum: ["similar", "group", "none"] },
      runs: int,
      medianRatio: numOrNull,
      scale: numOrNull,
      medianEnumerateShare: numOrNull,
      medianDeleteShare: numOrNull,
    }),
  }),
  flags: { type: "array", items: FLAG_SCHEMA },
  evidence: { type: "array", minItems: 1, items: EVIDENCE_SCHEMA },
  explanation: EXPLANATION_SCHEMA,
  notes: { type: "array", items: str },
  timeline: {
    type: "array",
    description: "The run's timeline, about every 250 ms, oldest first; each sample's values are deltas since the one before. Empty when none was recorded.",
    items: object(
      {
        tMs: { ...nonNeg, description: "Milliseconds since the run started." },
        bytes: int,
        files: int,
        selfCpuMs: { ...nonNeg, description: "blit's CPU milliseconds (user + system) over the interval." },
        othersCpuShare: nonNeg,
        cpuSome: { ...nonNeg, description: "CPU pressure (PSI some) over the interval." },
        ioSome: { ...nonNeg, description: "I/O pressure (PSI some) over the interval." },
      },
      ["selfCpuMs", "othersCpuShare", "cpuSome", "ioSome"],
    ),
  },
});

export const HISTORY_DIAGNOSIS_SCHEMA: JsonSchema = object({
  kind: { const: "history", type: "string" },
  generatedAt: str,
  store: str,
  window: object({ since: str, label: str, runs: int, totalRuns: int }),
  models: { type: "array", items: MODEL_SCHEMA },
  slowest: { type: "array", items: RUN_LINE_SCHEMA },
  flagged: { type: "array", items: RUN_LINE_SCHEMA },
  flaggedCount: int,
  trends: {
    type: "array",
    items: object({
      route: str,
      runs: int,
      earlier: HALF_SCHEMA,
      later: HALF_SCHEMA,
      direction: { type: "string", enum: ["slower", "faster", "steady", "too few runs"] },
      text: str,
    }),
  },
  fleet: object({
    hosts: { type: "array", items: str },
    runs: int,
    groups: {
      type: "array",
      items: object({
        route: str,
        shape: { type: "string", enum: ["small files", "mixed", "large files"] },
        scale: { type: "string", enum: ["under 16 MiB", "16 MiB to 1 GiB", "1 GiB or more"] },
        unit: { type: "string", enum: ["files/s", "bytes/s"] },
        hosts: int,
        runs: int,
        fleetRate: nonNeg,
        members: {
          type: "array",
          items: object({
            host: str, route: str, shape: str, scale: str, runs: int, rate: nonNeg, slowdown: nonNeg, destinationFs: str, outlier: { type: "boolean" },
          }),
        },
      }),
    },
    outliers: {
      type: "array",
      items: object({ host: str, route: str, shape: str, scale: str, slowdown: nonNeg, slowestRunId: str, text: str, evidence: { type: "array", items: str } }),
    },
    notes: { type: "array", items: str },
  }),
  notes: { type: "array", items: str },
}, ["fleet"]);

/** `blit diagnose --format json`: one run's diagnosis or the history report. */
export const DIAGNOSE_REPORT_SCHEMA: JsonSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  title: "blit diagnose report",
  oneOf: [RUN_DIAGNOSIS_SCHEMA, HISTORY_DIAGNOSIS_SCHEMA],
};

// The explanation every explainer returns (the rules explainer here; an LLM explainer later):
// a summary, causes and suggestions, each citing evidence ids. Claims without a citation that
// exists in the bundle are not allowed; `uncitedClaims` finds them.
import type { CauseKind } from "./causes.ts";
import type { Evidence } from "./evidence.ts";

export type Confidence = "high" | "medium" | "low";

export interface Cause {
  /** One of CAUSE_KINDS (causes.ts, listed in the README); the rules always set it, an LLM may. */
  kind?: CauseKind;
  text: string;
  /** Evidence ids, e.g. ["E3", "E12"]; at least one. */
  evidence: string[];
  confidence: Confidence;
  /** Estimated ms of the run's slowdown this cause accounts for (the rules rank by it). */
  impactMs?: number;
}

export interface Suggestion {
  text: string;
  /** The exact flag or setting to change, as typed: "--workers 8", "--bwlimit 0". */
  flag?: string;
  /** What should change, with numbers where the evidence gives them. */
  expectedEffect: string;
  evidence: string[];
}

export interface Explanation {
  summary: string;
  causes: Cause[];
  suggestions: Suggestion[];
}

/** Citations in `explanation` that name no fact of `evidence` ("cause 1: E99"); empty when all are real. */
export function uncitedClaims(explanation: Explanation, evidence: readonly Evidence[]): string[] {
  const ids = new Set(evidence.map((e) => e.id));
  const problems: string[] = [];
  const check = (what: string, cited: string[]) => {
    if (cited.length === 0) problems.push(`${what}: cites no evidence`);
    for (const id of cited) if (!ids.has(id)) problems.push(`${what}: ${id} is not in the evidence`);
  };
  explanation.causes.forEach((c, i) => check(`cause ${i + 1}`, c.evidence));
  explanation.suggestions.forEach((s, i) => check(`suggestion ${i + 1}`, s.evidence));
  return problems;
}

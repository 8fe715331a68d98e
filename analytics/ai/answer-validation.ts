// Checking a model's reply before anyone sees it. The reply must be JSON shaped like an
// explanation (else the whole answer is rejected and the rules answer); each claim in it must
// cite facts that exist, and each suggested flag must be one blit has (else that claim is
// dropped, and the drop is reported so the UI can show it).
import { CAUSE_KINDS, type CauseKind } from "../diagnose/causes.ts";
import type { Evidence } from "../diagnose/evidence.ts";
import type { Cause, Confidence, Explanation, Suggestion } from "../diagnose/explanation.ts";

export interface DroppedClaim {
  /** "cause 2", "suggestion 1". */
  claim: string;
  /** The claim's text as the model wrote it (shortened). */
  text: string;
  /** Why it was dropped, e.g. "cites E99, which is not in the evidence". */
  reason: string;
}

export type Validation =
  | { ok: true; explanation: Explanation; dropped: DroppedClaim[] }
  | { ok: false; problem: string };

const CONFIDENCE: readonly Confidence[] = ["high", "medium", "low"];

/** Parses and checks `content` (the reply's message text) against the bundle and blit's flags. */
export function validateAnswer(content: string | null | undefined, evidence: readonly Evidence[], knownFlags: readonly string[]): Validation {
  if (typeof content !== "string" || content.trim() === "") return { ok: false, problem: "the reply was empty" };
  let value: unknown;
  try {
    value = JSON.parse(stripFence(content));
  } catch (e) {
    return { ok: false, problem: `the reply was not valid JSON (${(e as Error).message})` };
  }
  if (!isObject(value)) return { ok: false, problem: "the reply was not a JSON object" };
  if (typeof value.summary !== "string") return { ok: false, problem: "the reply has no summary string" };
  if (!Array.isArray(value.causes)) return { ok: false, problem: "the reply has no causes array" };
  if (!Array.isArray(value.suggestions)) return { ok: false, problem: "the reply has no suggestions array" };

  const ids = new Set(evidence.map((e) => e.id));
  const flags = new Set(knownFlags);
  const dropped: DroppedClaim[] = [];
  const citations = (claim: string, text: string, raw: unknown): string[] | undefined => {
    if (!Array.isArray(raw) || raw.length === 0 || !raw.every((x) => typeof x === "string")) {
      dropped.push({ claim, text, reason: "cites no evidence" });
      return undefined;
    }
    const missing = raw.filter((id) => !ids.has(id));
    if (missing.length > 0) {
      dropped.push({ claim, text, reason: `cites ${missing.join(", ")}, which ${missing.length === 1 ? "is" : "are"} not in the evidence` });
      return undefined;
    }
    return [...new Set(raw as string[])];
  };

  const causes: Cause[] = [];
  value.causes.forEach((c, i) => {
    const claim = `cause ${i + 1}`;
    if (!isObject(c) || typeof c.text !== "string" || c.text.trim() === "") {
      dropped.push({ claim, text: short(c), reason: "is not a cause with text" });
      return;
    }
    const cited = citations(claim, c.text, c.evidence);
    if (!cited) return;
    const confidence = CONFIDENCE.includes(c.confidence as Confidence) ? (c.confidence as Confidence) : "low";
    const kind = (CAUSE_KINDS as readonly unknown[]).includes(c.kind) ? (c.kind as CauseKind) : undefined;
    causes.push({ ...(kind ? { kind } : {}), text: c.text, evidence: cited, confidence });
  });

  const suggestions: Suggestion[] = [];
  value.suggestions.forEach((s, i) => {
    const claim = `suggestion ${i + 1}`;
    if (!isObject(s) || typeof s.text !== "string" || s.text.trim() === "") {
      dropped.push({ claim, text: short(s), reason: "is not a suggestion with text" });
      return;
    }
    const cited = citations(claim, s.text, s.evidence);
    if (!cited) return;
    let flag: string | undefined;
    if (typeof s.flag === "string" && s.flag.trim() !== "") {
      const unknown = unknownFlag(s.flag, flags);
      if (unknown !== undefined) {
        dropped.push({ claim, text: s.text, reason: `suggests ${unknown}, which blit does not have` });
        return;
      }
      flag = s.flag.trim();
    }
    const expectedEffect = typeof s.expectedEffect === "string" ? s.expectedEffect : "";
    suggestions.push({ text: s.text, ...(flag ? { flag } : {}), expectedEffect, evidence: cited });
  });

  return { ok: true, explanation: { summary: value.summary, causes, suggestions }, dropped };
}

/** The first flag name in `flag` that blit lacks ("--turbo"), or undefined when all are real. */
export function unknownFlag(flag: string, known: ReadonlySet<string>): string | undefined {
  const tokens = flag.trim().split(/\s+/);
  if (!tokens[0]!.startsWith("-")) return tokens[0];
  for (const t of tokens) {
    if (!t.startsWith("-") || /^-\d/.test(t)) continue; // a value, or a negative number
    const name = t.split("=")[0]!;
    if (!known.has(name)) return name;
  }
  return undefined;
}

function stripFence(text: string): string {
  const m = /^\s*```(?:json)?\s*\n([\s\S]*?)\n\s*```\s*$/.exec(text);
  return m ? m[1]! : text;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function short(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

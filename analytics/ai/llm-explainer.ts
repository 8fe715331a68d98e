// The LLM explainer: sends a run's evidence bundle (never file contents) to an OpenAI-compatible
// endpoint through the official `openai` client, asks for the explanation schema as structured
// output, and validates the reply. Whatever goes wrong (not configured, timeout, 429, 5xx, a
// malformed reply, cancelled) it resolves, never rejects: the offline rules answer, and a notice
// says why. Valid answers are cached in the store per run, evidence hash and model.
import { hostname } from "node:os";
import { hostName } from "../../engine/index.ts";
import type OpenAIClient from "openai";

// The client is loaded when a model is first asked (it adds ~20 ms to every blit start otherwise).
type OpenAI = typeof OpenAIClient;
import { cacheAnswer, cachedAnswer } from "./answer-cache.ts";
import { validateAnswer, type DroppedClaim } from "./answer-validation.ts";
import { missingAiSettings, type AiSettings } from "./ai-settings.ts";
import type { Evidence } from "../diagnose/evidence.ts";
import type { Explanation } from "../diagnose/explanation.ts";
import { buildChatRequest, evidenceHash, type ChatRequest } from "./llm-request.ts";
import { redactEvidence, type Placeholder } from "./redaction.ts";
import { explainWithRules } from "../diagnose/rules-explainer.ts";
import { formatDuration } from "../store/human-units.ts";

/** Who answered: a model (maybe from the cache), or the offline rules. */
export type AnsweredBy = { kind: "llm"; model: string; cached: boolean; cachedAt?: string } | { kind: "rules" };

export interface ExplainerAnswer {
  explanation: Explanation;
  answeredBy: AnsweredBy;
  /** What a person must see besides the answer: why the rules answered, what was left out. */
  notices: string[];
  /** Claims of the model's reply that validation dropped, with the reason. */
  dropped: DroppedClaim[];
}

/** The run as the explainer needs it: its id, paths (for --redact) and evidence bundle. */
export interface ExplainTarget {
  run: { id: string; source: string; destination: string };
  evidence: readonly Evidence[];
}

export interface ExplainOptions {
  settings: AiSettings;
  /** Every flag blit has ("--workers", "-w", ...); suggestions naming others are dropped. */
  knownFlags: readonly string[];
  /** The store file, for the answer cache; without it nothing is cached. */
  path?: string;
  /** Aborting it cancels the call; the rules answer with a "cancelled" notice. */
  signal?: AbortSignal;
}

export interface Preview {
  /** "POST http://host/v1/chat/completions", or why nothing would be sent. */
  endpoint: string;
  /** Settings still missing; with any, nothing would be sent at all. */
  missing: string[];
  request: ChatRequest;
  /** The placeholders --redact used (originals stay on this machine). */
  placeholders: Placeholder[];
}

/** Exactly what `explainWithLlm` would send for `target`. Sends nothing. */
export function previewRequest(target: ExplainTarget, settings: AiSettings, knownFlags: readonly string[]): Preview {
  const { request, placeholders } = prepare(target, settings, knownFlags);
  const missing = missingAiSettings(settings);
  return {
    endpoint: settings.baseURL ? `POST ${settings.baseURL.replace(/\/+$/, "")}/chat/completions` : "(OPENAI_BASE_URL not set: nothing would be sent)",
    missing,
    request,
    placeholders,
  };
}

/** Explains one run with the configured model, or the rules when it cannot. Never rejects. */
export async function explainWithLlm(target: ExplainTarget, options: ExplainOptions): Promise<ExplainerAnswer> {
  const { settings } = options;
  const rules = (notices: string[], dropped: DroppedClaim[] = []): ExplainerAnswer => ({
    explanation: explainWithRules(target.evidence),
    answeredBy: { kind: "rules" },
    notices,
    dropped,
  });
  const missing = missingAiSettings(settings);
  if (missing.length > 0) return rules([]);
  const model = settings.model!;
  const fallback = (why: string, dropped: DroppedClaim[] = []) => rules([`model ${model}: ${why}; the offline rules answered instead`], dropped);

  const { request, restore } = prepare(target, settings, options.knownFlags);
  const key = options.path ? { path: options.path, runId: target.run.id, evidenceHash: evidenceHash(request), model } : undefined;
  if (key) {
    const hit = await cachedAnswer(key);
    if (hit) {
      return {
        explanation: restoreExplanation(hit.explanation, restore),
        answeredBy: { kind: "llm", model, cached: true, cachedAt: hit.createdAt },
        notices: [],
        dropped: hit.dropped.map((d) => ({ ...d, text: restore(d.text) })),
      };
    }
  }
  if (options.signal?.aborted) return fallback("cancelled before the call");

  // One bound for the whole call, whatever the client or the server do; the user's Esc aborts too.
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, settings.timeoutMs);
  const onAbort = () => controller.abort();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  let content: string | null | undefined;
  let OpenAI: OpenAI | undefined;
  try {
    OpenAI = (await import("openai")).default;
    const client = new OpenAI({ baseURL: settings.baseURL, apiKey: settings.apiKey, timeout: settings.timeoutMs, maxRetries: settings.maxRetries });
    const reply = await client.chat.completions.create(
      request as unknown as OpenAIClient.ChatCompletionCreateParamsNonStreaming,
      { signal: controller.signal, timeout: settings.timeoutMs, maxRetries: settings.maxRetries },
    );
    const message = reply.choices?.[0]?.message;
    if (message?.refusal) return fallback(`the model refused (${oneLine(message.refusal)})`);
    content = message?.content;
  } catch (e) {
    if (options.signal?.aborted) return fallback("cancelled");
    if (timedOut || (OpenAI && e instanceof OpenAI.APIConnectionTimeoutError)) return fallback(`no answer within ${formatDuration(settings.timeoutMs)} (BLIT_AI_TIMEOUT_MS)`);
    return fallback(OpenAI ? describeFailure(OpenAI, e, settings.baseURL!) : `the client could not be loaded (${oneLine(causeOf(e))})`);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener("abort", onAbort);
  }

  const checked = validateAnswer(content, prepareEvidence(target, settings).evidence, options.knownFlags);
  if (!checked.ok) return fallback(`reply rejected: ${checked.problem}`);
  const dropped = checked.dropped.map((d) => ({ ...d, text: restore(d.text) }));
  const e = checked.explanation;
  if (dropped.length > 0 && e.causes.length === 0 && e.suggestions.length === 0) {
    return fallback(`every claim in the reply was dropped (${dropped.length})`, dropped);
  }
  if (key) await cacheAnswer({ ...key, baseURL: settings.baseURL }, { explanation: e, dropped: checked.dropped });
  return {
    explanation: restoreExplanation(e, restore),
    answeredBy: { kind: "llm", model, cached: false },
    notices: [],
    dropped,
  };
}

function prepareEvidence(target: ExplainTarget, settings: AiSettings) {
  if (!settings.redact) return { evidence: [...target.evidence], placeholders: [] as Placeholder[], restore: (t: string) => t };
  // Mount points are paths too, and may hold spaces a path pattern would stop at.
  const mounts = target.evidence.filter((e) => /^device\.\w+\.mount-point$/.test(e.key) && typeof e.value === "string" && e.value !== "/").map((e) => String(e.value));
  return redactEvidence(target.evidence, { paths: [target.run.source, target.run.destination, ...mounts], hosts: [...new Set([hostname(), hostName()])] });
}

function prepare(target: ExplainTarget, settings: AiSettings, knownFlags: readonly string[]) {
  const r = prepareEvidence(target, settings);
  const request = buildChatRequest({ evidence: r.evidence, knownFlags, model: settings.model ?? "(BLIT_AI_MODEL not set)" });
  return { request, placeholders: r.placeholders, restore: r.restore };
}

function restoreExplanation(e: Explanation, restore: (t: string) => string): Explanation {
  return {
    summary: restore(e.summary),
    causes: e.causes.map((c) => ({ ...c, text: restore(c.text) })),
    suggestions: e.suggestions.map((s) => ({
      ...s,
      text: restore(s.text),
      expectedEffect: restore(s.expectedEffect),
      ...(s.flag ? { flag: restore(s.flag) } : {}),
    })),
  };
}

// Errors are named by what the person should know: busy, broken, unreachable, refused.
function describeFailure(OpenAI: OpenAI, e: unknown, baseURL: string): string {
  if (e instanceof OpenAI.RateLimitError) return "rate limited (HTTP 429)";
  if (e instanceof OpenAI.APIConnectionError) return `could not reach ${baseURL} (${oneLine(causeOf(e))})`;
  if (e instanceof OpenAI.APIError && typeof e.status === "number") {
    if (e.status >= 500) return `server error (HTTP ${e.status})`;
    return `request refused (HTTP ${e.status}: ${oneLine(e.message)})`;
  }
  return `the call failed (${oneLine(causeOf(e))})`;
}

function causeOf(e: unknown): string {
  const err = e as { message?: string; cause?: { message?: string } };
  return err?.cause?.message ?? err?.message ?? String(e);
}

function oneLine(s: string): string {
  const t = s.replace(/\s+/g, " ").trim();
  return t.length > 160 ? `${t.slice(0, 157)}...` : t;
}


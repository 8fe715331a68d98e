// How `blit diagnose --ai` reaches a model: one typed object, normalized once from flags and the
// environment (flags win). Without a base URL, a key and a model name the LLM explainer does not
// try, and the offline rules answer.

export interface AiSettings {
  /** OPENAI_BASE_URL: any OpenAI-compatible endpoint (hosted API, llama.cpp, Ollama). */
  baseURL?: string;
  /** OPENAI_API_KEY. Never printed, never stored. */
  apiKey?: string;
  /** BLIT_AI_MODEL: the model name sent with the request, and part of the answer cache's key. */
  model?: string;
  /**
   * BLIT_AI_TIMEOUT_MS: how long one model call may take, in ms, before the rules answer instead.
   * @default 20000
   */
  timeoutMs: number;
  /**
   * Retries of a failed call by the openai client. Kept at 0 so a 429 or a 5xx falls back at once.
   * @default 0
   */
  maxRetries: number;
  /**
   * --redact: replace paths and host names in what is sent with stable placeholders.
   * @default false
   */
  redact: boolean;
}

export interface AiSettingsInput {
  redact?: boolean;
  timeoutMs?: number;
  maxRetries?: number;
}

export const DEFAULT_AI_TIMEOUT_MS = 20_000;
/** Above this a "timeout" is no bound at all; the UI must never appear to hang. */
const MAX_AI_TIMEOUT_MS = 600_000;

/** Flags (`input`) beat the environment, which beats the defaults. Throws RangeError on a bad timeout. */
export function aiSettings(env: Record<string, string | undefined>, input: AiSettingsInput = {}): AiSettings {
  const text = (v: string | undefined) => (v === undefined || v.trim() === "" ? undefined : v.trim());
  let timeoutMs = input.timeoutMs;
  if (timeoutMs === undefined && text(env.BLIT_AI_TIMEOUT_MS) !== undefined) {
    const raw = text(env.BLIT_AI_TIMEOUT_MS)!;
    if (!/^\d+$/.test(raw)) throw new RangeError(`BLIT_AI_TIMEOUT_MS must be a whole number of milliseconds, got '${raw}'`);
    timeoutMs = Number(raw);
  }
  timeoutMs ??= DEFAULT_AI_TIMEOUT_MS;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_AI_TIMEOUT_MS) {
    throw new RangeError(`the model timeout must be 1 to ${MAX_AI_TIMEOUT_MS} ms, got ${timeoutMs}`);
  }
  return {
    baseURL: text(env.OPENAI_BASE_URL),
    apiKey: text(env.OPENAI_API_KEY),
    model: text(env.BLIT_AI_MODEL),
    timeoutMs,
    maxRetries: input.maxRetries ?? 0,
    redact: input.redact ?? false,
  };
}

/** The environment variables still missing before a model can be asked; empty when it can. */
export function missingAiSettings(s: AiSettings): string[] {
  const missing: string[] = [];
  if (!s.baseURL) missing.push("OPENAI_BASE_URL");
  if (!s.apiKey) missing.push("OPENAI_API_KEY");
  if (!s.model) missing.push("BLIT_AI_MODEL");
  return missing;
}

/** "model NAME" when a model would be asked, else "offline rules": what the UI shows at all times. */
export function explainerLabel(s: AiSettings): string {
  return missingAiSettings(s).length === 0 ? `model ${s.model}` : "offline rules";
}

// What the LLM explainer sends: one chat-completions request holding the evidence bundle (never
// file contents), the flags blit has, and the explanation schema as structured output. The same
// object is what `--ai-preview` prints, so what a person reviews is exactly what would go out.
import { EXPLANATION_SCHEMA } from "../diagnose/diagnose-schema.ts";
import type { Evidence } from "../diagnose/evidence.ts";
import type { JsonSchema } from "../store/schema-check.ts";

/** Bumped whenever the prompt or payload changes meaning, so cached answers to the old one are not reused. */
export const PROMPT_VERSION = 2;

export interface ChatRequest {
  model: string;
  temperature: number;
  messages: { role: "system" | "user"; content: string }[];
  response_format: {
    type: "json_schema";
    json_schema: { name: string; description: string; strict: boolean; schema: JsonSchema };
  };
}

export interface RequestInput {
  /** The bundle as it will be sent (already redacted when --redact). */
  evidence: readonly Evidence[];
  /** Flags blit has (e.g. "--workers", "-w"); a suggestion naming another is dropped. */
  knownFlags: readonly string[];
  /** The model name; "(BLIT_AI_MODEL not set)" in a preview without one. */
  model: string;
}

const SYSTEM_PROMPT = `You explain why one run of blit (a file copy and sync tool) took the time it did, and what to change.
You are given its evidence bundle: numbered facts E1, E2, ... with values and units. Use only these facts.
Answer with JSON matching the given schema:
- summary: one or two sentences for a person.
- causes: the reasons the run was slow (or nothing, if it was ordinary), most important first; each cites the ids of the facts it rests on in "evidence", has a confidence, and a "kind" from the schema's list (cpu-contention, slow-device, tracer, ...).
- suggestions: what to change, each with the exact blit flag and value as typed (for example "--workers 8"), the expected effect with numbers from the facts, and the ids it rests on.
Every cause and suggestion must cite at least one id that exists in the bundle; claims without such citations are discarded.
Suggest only these flags: FLAGS.
If nothing stands out, say so in the summary and give no causes.`;

/** The request for `evidence`. Deterministic: the same input gives the same request, byte for byte. */
export function buildChatRequest(input: RequestInput): ChatRequest {
  const { $schema: _drop, title: _title, ...schema } = EXPLANATION_SCHEMA;
  const facts = input.evidence.map((e) => ({ id: e.id, key: e.key, label: e.label, value: e.value, unit: e.unit, text: e.text }));
  return {
    model: input.model,
    temperature: 0,
    messages: [
      { role: "system", content: SYSTEM_PROMPT.replace("FLAGS", input.knownFlags.filter((f) => f.startsWith("--")).join(", ")) },
      { role: "user", content: JSON.stringify({ evidence: facts }) },
    ],
    response_format: {
      type: "json_schema",
      json_schema: {
        name: "blit_explanation",
        description: EXPLANATION_SCHEMA.description ?? "",
        // "flag" is optional, which strict mode does not allow; the reply is validated here instead.
        strict: false,
        schema,
      },
    },
  };
}

/** The answer cache's key for a request: a hash of the evidence as sent, the prompt and its version. */
export function evidenceHash(request: ChatRequest): string {
  const h = new Bun.CryptoHasher("sha256");
  h.update(`v${PROMPT_VERSION}\n`);
  for (const m of request.messages) h.update(`${m.role}\n${m.content}\n`);
  return h.digest("hex").slice(0, 32);
}

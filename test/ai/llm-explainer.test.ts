// The LLM explainer against a real OpenAI-compatible HTTP server on loopback, through the real
// `openai` client: each kind of reply shows the right answer or the rules with a notice, and
// nothing else; answers are cached in the store; without settings nothing is sent.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  aiSettings, diagnoseRun, explainWithLlm, explainWithRules, previewRequest, record, redactEvidence, withStore,
  type AiSettings, type RunDiagnosis,
} from "../../analytics/index.ts";
import { transferFlagNames } from "../../tui/index.ts";
import { completion, idOf, mockModelServer, realisticMs, syntheticReport, syntheticStore, tempDir, type ChatCall } from "./helpers.ts";

const tmp = tempDir();
const server = mockModelServer();
let slow: RunDiagnosis;
const flags = transferFlagNames();

beforeAll(async () => {
  const runs = await syntheticStore(tmp.store);
  slow = await diagnoseRun({ path: tmp.store, id: runs.slow.id });
}, 30_000);

afterAll(() => {
  server.stop();
  tmp.remove();
});

const settings = (extra: Partial<AiSettings> = {}): AiSettings => ({
  ...aiSettings({ OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: "test-key", BLIT_AI_MODEL: "test-model" }),
  timeoutMs: 2000,
  ...extra,
});
const target = () => ({ run: slow.run, evidence: slow.evidence });

/** A well-formed answer citing real facts of the request. */
const goodAnswer = (call: ChatCall) => ({
  summary: "The run took three times its prediction with nothing in its own settings to explain it.",
  causes: [{ text: "Outside load: the run was 3× slower than similar runs.", evidence: [idOf(call, "duration.total"), idOf(call, "prediction")], confidence: "medium" }],
  suggestions: [{ text: "Run it with more workers.", flag: "--workers 8", expectedEffect: "a shorter transfer phase", evidence: [idOf(call, "options.workers")] }],
});

describe("a good structured answer", () => {
  test("is shown as the model's, with its citations, and nothing else", async () => {
    server.setReply((call) => completion(JSON.stringify(goodAnswer(call))));
    const before = server.calls.length;
    const a = await explainWithLlm(target(), { settings: settings(), knownFlags: flags });
    expect(server.calls.length).toBe(before + 1);
    expect(a.answeredBy).toEqual({ kind: "llm", model: "test-model", cached: false });
    expect(a.notices).toEqual([]);
    expect(a.dropped).toEqual([]);
    expect(a.explanation.causes.map((c) => c.text)).toEqual(["Outside load: the run was 3× slower than similar runs."]);
    expect(a.explanation.suggestions[0]!.flag).toBe("--workers 8");

    // The request: the evidence bundle and the schema as structured output, nothing more.
    const call = server.calls.at(-1)!;
    expect(call.body.model).toBe("test-model");
    expect(call.evidence.map((e) => e.id)).toEqual(slow.evidence.map((e) => e.id));
    expect(call.body.response_format).toMatchObject({ type: "json_schema", json_schema: { name: "blit_explanation" } });
    expect(JSON.stringify(call.body.response_format)).toContain('"causes"');
  });

  test("is cached in the store per run, evidence and model: reopening asks nothing", async () => {
    server.setReply((call) => completion(JSON.stringify(goodAnswer(call))));
    const first = await explainWithLlm(target(), { settings: settings(), knownFlags: flags, path: tmp.store });
    expect(first.answeredBy).toMatchObject({ kind: "llm", cached: false });
    const calls = server.calls.length;
    server.setReply(() => new Response("must not be called", { status: 500 }));
    const again = await explainWithLlm(target(), { settings: settings(), knownFlags: flags, path: tmp.store });
    expect(server.calls.length).toBe(calls);
    expect(again.answeredBy).toMatchObject({ kind: "llm", model: "test-model", cached: true });
    expect(again.explanation).toEqual(first.explanation);
    const rows = await withStore(tmp.store, async ({ conn }) =>
      (await conn.runAndReadAll("SELECT run_id, model FROM ai_answers")).getRowObjects(),
    );
    expect(rows).toContainEqual({ run_id: slow.run.id, model: "test-model" });
    // Another model is another key.
    server.setReply((call) => completion(JSON.stringify(goodAnswer(call))));
    const other = await explainWithLlm(target(), { settings: settings({ model: "other-model" }), knownFlags: flags, path: tmp.store });
    expect(other.answeredBy).toMatchObject({ kind: "llm", model: "other-model", cached: false });
    expect(server.calls.length).toBe(calls + 1);
  });
});

describe("claims that do not hold", () => {
  test("a claim citing a missing evidence id is dropped, and the drop is shown", async () => {
    server.setReply((call) => {
      const a = goodAnswer(call);
      a.causes.push({ text: "The disk was failing.", evidence: ["E999"], confidence: "high" });
      return completion(JSON.stringify(a));
    });
    const a = await explainWithLlm(target(), { settings: settings(), knownFlags: flags });
    expect(a.answeredBy.kind).toBe("llm");
    expect(a.explanation.causes.map((c) => c.text)).toEqual(["Outside load: the run was 3× slower than similar runs."]);
    expect(a.dropped).toEqual([{ claim: "cause 2", text: "The disk was failing.", reason: "cites E999, which is not in the evidence" }]);
    expect(a.notices).toEqual([]);
  });

  test("a claim citing nothing, and a flag blit does not have, are dropped too", async () => {
    server.setReply((call) => {
      const a = goodAnswer(call);
      a.causes.push({ text: "Cosmic rays.", evidence: [], confidence: "low" });
      a.suggestions.push({ text: "Go faster.", flag: "--turbo", expectedEffect: "speed", evidence: [idOf(call, "duration.total")] });
      return completion(JSON.stringify(a));
    });
    const a = await explainWithLlm(target(), { settings: settings(), knownFlags: flags });
    expect(a.dropped.map((d) => `${d.claim}: ${d.reason}`)).toEqual([
      "cause 2: cites no evidence",
      "suggestion 2: suggests --turbo, which blit does not have",
    ]);
    expect(a.explanation.suggestions.map((s) => s.flag)).toEqual(["--workers 8"]);
  });

  test("when every claim is dropped, the rules answer and say why", async () => {
    server.setReply(() => completion(JSON.stringify({ summary: "x", causes: [{ text: "made up", evidence: ["E999"], confidence: "high" }], suggestions: [] })));
    const a = await explainWithLlm(target(), { settings: settings(), knownFlags: flags });
    expect(a.answeredBy).toEqual({ kind: "rules" });
    expect(a.explanation).toEqual(explainWithRules(slow.evidence));
    expect(a.notices).toEqual(["model test-model: every claim in the reply was dropped (1); the offline rules answered instead"]);
    expect(a.dropped).toHaveLength(1);
  });
});

describe("failures fall back to the rules with a visible notice", () => {
  const rules = () => explainWithRules(slow.evidence);
  const fallback = async (reply: (call: ChatCall) => Response | Promise<Response>, extra: Partial<AiSettings> = {}) => {
    server.setReply(reply);
    const started = performance.now();
    const a = await explainWithLlm(target(), { settings: settings(extra), knownFlags: flags });
    expect(a.answeredBy).toEqual({ kind: "rules" });
    expect(a.explanation).toEqual(rules());
    expect(a.dropped).toEqual([]);
    expect(a.notices).toHaveLength(1);
    return { notice: a.notices[0]!, ms: performance.now() - started };
  };

  test("invalid JSON", async () => {
    const { notice } = await fallback(() => completion("Sure! The run was slow because {"));
    expect(notice).toStartWith("model test-model: reply rejected: the reply was not valid JSON");
    expect(notice).toEndWith("the offline rules answered instead");
  });

  test("JSON that is not an explanation", async () => {
    const { notice } = await fallback(() => completion(JSON.stringify({ answer: 42 })));
    expect(notice).toBe("model test-model: reply rejected: the reply has no summary string; the offline rules answered instead");
  });

  test("HTTP 429, at once (no retries)", async () => {
    const before = server.calls.length;
    const { notice, ms } = await fallback(() => Response.json({ error: { message: "Rate limit reached", type: "requests" } }, { status: 429, headers: { "retry-after": "30" } }));
    expect(notice).toBe("model test-model: rate limited (HTTP 429); the offline rules answered instead");
    expect(server.calls.length).toBe(before + 1);
    expect(ms).toBeLessThan(1500);
  });

  test("HTTP 500, at once (no retries)", async () => {
    const before = server.calls.length;
    const { notice } = await fallback(() => Response.json({ error: { message: "boom" } }, { status: 500 }));
    expect(notice).toBe("model test-model: server error (HTTP 500); the offline rules answered instead");
    expect(server.calls.length).toBe(before + 1);
  });

  test("a reply slower than the timeout", async () => {
    const { notice, ms } = await fallback(async (call) => {
      await Bun.sleep(3000);
      return completion(JSON.stringify(goodAnswer(call)));
    }, { timeoutMs: 300 });
    expect(notice).toBe("model test-model: no answer within 300 ms (BLIT_AI_TIMEOUT_MS); the offline rules answered instead");
    expect(ms).toBeLessThan(2000);
  });

  test("an unreachable endpoint", async () => {
    const { notice } = await fallback(() => completion("{}"), { baseURL: "http://127.0.0.1:1/v1" });
    expect(notice).toStartWith("model test-model: could not reach http://127.0.0.1:1/v1");
  });

  test("cancelled by the person (Esc)", async () => {
    server.setReply(async (call) => {
      await Bun.sleep(3000);
      return completion(JSON.stringify(goodAnswer(call)));
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const a = await explainWithLlm(target(), { settings: settings({ timeoutMs: 10_000 }), knownFlags: flags, signal: controller.signal });
    expect(a.answeredBy).toEqual({ kind: "rules" });
    expect(a.notices).toEqual(["model test-model: cancelled; the offline rules answered instead"]);
  });
});

describe("without settings, and in a preview", () => {
  test("without a key or a base URL nothing is sent and the rules answer without a notice", async () => {
    const before = server.calls.length;
    for (const env of [{ OPENAI_BASE_URL: server.baseURL, BLIT_AI_MODEL: "m" }, { OPENAI_API_KEY: "k", BLIT_AI_MODEL: "m" }]) {
      const a = await explainWithLlm(target(), { settings: aiSettings(env), knownFlags: flags });
      expect(a.answeredBy).toEqual({ kind: "rules" });
      expect(a.notices).toEqual([]);
    }
    expect(server.calls.length).toBe(before);
  });

  test("the preview is exactly the request that is sent", async () => {
    server.setReply((call) => completion(JSON.stringify(goodAnswer(call))));
    const preview = previewRequest(target(), settings(), flags);
    expect(preview.endpoint).toBe(`POST ${server.baseURL}/chat/completions`);
    expect(preview.missing).toEqual([]);
    await explainWithLlm(target(), { settings: settings(), knownFlags: flags });
    const sent = server.calls.at(-1)!.body;
    expect(sent).toEqual(JSON.parse(JSON.stringify(preview.request)));
  });

  test("--redact: paths and host names become stable placeholders, restored in the answer shown", async () => {
    const redacted = settings({ redact: true });
    const p1 = previewRequest(target(), redacted, flags);
    const p2 = previewRequest(target(), redacted, flags);
    expect(p1.request).toEqual(p2.request);
    const body = JSON.stringify(p1.request);
    expect(body).not.toContain(slow.run.source);
    expect(body).not.toContain(slow.run.destination);
    expect(body).toContain("<path-1> -> <path-2>");
    expect(p1.placeholders.map((p) => [p.placeholder, p.original])).toEqual([["<path-1>", slow.run.source], ["<path-2>", slow.run.destination]]);

    server.setReply((call) => {
      const a = goodAnswer(call);
      a.causes[0]!.text = "Copying <path-1> into <path-2> was slow.";
      return completion(JSON.stringify(a));
    });
    const a = await explainWithLlm(target(), { settings: redacted, knownFlags: flags });
    expect(JSON.stringify(server.calls.at(-1)!.body)).not.toContain(slow.run.source);
    expect(a.explanation.causes[0]!.text).toBe(`Copying ${slow.run.source} into ${slow.run.destination} was slow.`);
  });

  test("redaction covers remote URLs, host names and stray absolute paths, same input same placeholder", () => {
    const evidence = [
      { id: "E1", key: "run", label: "run", value: "x", unit: "", text: "push on route push, /home/ana/photos -> blit://nas.lan:9031/backup/photos" },
      { id: "E2", key: "fastpath-note.x", label: "why not x", value: "open /home/ana/photos/a.jpg failed on nas.lan", unit: "", text: "from blit://nas.lan:9031/backup/photos again, 12 MB/s" },
    ];
    const r = redactEvidence(evidence, { paths: ["/home/ana/photos"], hosts: ["nas.lan"] });
    expect(r.evidence[0]!.text).toBe("push on route push, <path-1> -> blit://<host-1>:9031/<path-2>");
    expect(r.evidence[1]!.value).toBe("open <path-1>/a.jpg failed on <host-1>");
    expect(r.evidence[1]!.text).toBe("from blit://<host-1>:9031/<path-2> again, 12 MB/s");
    expect(r.restore("<path-1> on <host-1>")).toBe("/home/ana/photos on nas.lan");
    expect(evidence[0]!.text).toContain("/home/ana/photos"); // the input is left alone
  });
});

describe("the machine around the run, in the bundle the model gets", () => {
  const nas = "/mnt/nas photos";
  let contended: RunDiagnosis;

  beforeAll(async () => {
    const r = syntheticReport({ files: 4500, bytes: 50e6, totalMs: realisticMs(4500, 50e6, 3), startedAt: new Date(Date.parse("2025-04-21T02:00:00Z")) });
    r.context = {
      cpuCount: 2,
      self: { userMs: 1200, systemMs: 400, voluntaryCtxSwitches: 4000, involuntaryCtxSwitches: 900, majorFaults: 0 },
      load: { start: 4.2, end: 4.5 },
      pressure: { cpuSome: 0.7, ioSome: 0.3, ioFull: 0.1, memorySome: 0 },
      othersCpuShare: 0.85,
      devices: [
        {
          role: "destination", path: `${nas}/backup`, mountPoint: nas, fsType: "nfs4", device: "nas.lan:/export/photos",
          mountOptions: ["rw", "hard"], deviceClass: "network", sync: false,
        },
      ],
    };
    await record(r, { path: tmp.store });
    contended = await diagnoseRun({ path: tmp.store, id: r.id });
  }, 30_000);

  test("the request carries the CPU pressure and the device facts of a recorded run", async () => {
    server.setReply((call) => completion(JSON.stringify(goodAnswer(call))));
    await explainWithLlm({ run: contended.run, evidence: contended.evidence }, { settings: settings(), knownFlags: flags });
    const call = server.calls.at(-1)!;
    const fact = (key: string) => call.evidence.find((e) => e.key === key);
    expect(fact("context.psi.cpu")).toMatchObject({ value: 70, unit: "%" });
    expect(fact("context.others-cpu")).toMatchObject({ value: 85 });
    expect(fact("device.destination")).toMatchObject({ value: "network" });
    expect(fact("device.destination")!.text).toContain("nfs4 mounted at /mnt/nas photos");
  });

  test("--redact hides the mount point (spaces and all) and the NFS server and export in the device facts", () => {
    const p = previewRequest({ run: contended.run, evidence: contended.evidence }, settings({ redact: true }), flags);
    const body = JSON.stringify(p.request);
    for (const secret of [nas, "/mnt/nas", "photos", "nas.lan", "/export"]) expect(body).not.toContain(secret);
    expect(body).toContain("nfs4 mounted at <path-");
    expect(p.placeholders.map((x) => x.original)).toEqual(expect.arrayContaining([nas, "nas.lan", "/export/photos"]));
  });
});

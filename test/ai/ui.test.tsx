// The diagnose UI rendered by Ink into a fake terminal (a stdout that keeps frames, a stdin that
// takes keys), on a real store: what a person sees on each screen, and what the keys do.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { aiSettings, record, type AiSettings } from "../../analytics/index.ts";
import type { DeviceContext, RunContext, RunReport } from "../../engine/index.ts";
import { DiagnoseApp, storeSource } from "../../tui/index.ts";
import {
  completion, idOf, KEY, mockModelServer, realisticMs, renderScreen, syntheticReport, syntheticStore, tempDir, type ChatCall,
} from "./helpers.ts";

const tmp = tempDir();

/** `text` as the panel shows it, wrapped anywhere between words (a line break, the border, the other column between). */
function wrapped(text: string): RegExp {
  const words = text.split(" ").map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(words.join("(?: |\\s*│?\\n.*│ )"));
}
const server = mockModelServer();
let runs: { ordinary: RunReport[]; slow: RunReport; enumeration: RunReport };

beforeAll(async () => {
  runs = await syntheticStore(tmp.store);
}, 30_000);

afterAll(() => {
  server.stop();
  tmp.remove();
});

const offline = () => storeSource({ path: tmp.store, settings: aiSettings({}) });
const withModel = (extra: Partial<AiSettings> = {}) =>
  storeSource({
    path: tmp.store,
    settings: { ...aiSettings({ OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: "k", BLIT_AI_MODEL: "test-model" }), timeoutMs: 5000, ...extra },
  });

describe("the run list", () => {
  test("shows the explainer, a throughput sparkline, and recent runs with predictions and flag marks", async () => {
    const s = renderScreen(<DiagnoseApp source={offline()} />);
    try {
      let frame = await s.waitFor("STARTED");
      expect(frame).toContain("blit diagnose --ai");
      expect(frame).toContain("explainer: offline rules");
      expect(frame).toMatch(/Throughput [▁▂▃▄▅▆▇█]{10,}/);
      expect(frame).toContain("32 of 32 recent runs shown, 32 in the store");
      frame = await s.waitFor(/mirror\/local .*4,500 files +47\.7 MiB +900 ms .*–.*\s+!\s+/);
      // The newest run (enumeration-bound) is under the cursor, its flag spelled out below.
      expect(frame).toMatch(/^> .*200,000 files +1\.9 GiB.*!\s+\w{8}/m);
      expect(frame).toContain("! enumeration-heavy: enumeration took 90% of the run");
      expect(frame).not.toContain("scoring");
    } finally {
      s.unmount();
    }
  });

  test("arrow keys move the cursor; / filters; Esc clears the filter; ? shows help; q quits", async () => {
    const s = renderScreen(<DiagnoseApp source={offline()} />);
    try {
      await s.waitFor(/!\s+\w{8}\s*$/m);
      await s.press(KEY.down);
      let frame = await s.waitFor(/^> .*4,500 files +47\.7 MiB\s+900 ms/m);
      expect(frame).toContain("! slow-vs-prediction: took 900 ms");
      await s.press("/");
      for (const ch of "enumeration") await s.press(ch);
      frame = await s.waitFor("1 of 32 recent runs shown");
      expect(frame).toContain("/enumeration█");
      expect(frame).toMatch(/^> .*200,000 files/m);
      await s.press(KEY.escape);
      frame = await s.waitFor("32 of 32 recent runs shown");
      await s.press("?");
      frame = await s.waitFor("Keys");
      expect(frame).toContain("open the run under the cursor");
      expect(frame).toContain("Explainer: offline rules");
      await s.press("x");
      await s.waitFor("STARTED");
      await s.press("q");
      await s.instance.waitUntilExit();
    } finally {
      s.unmount();
    }
  });
});

describe("a run's page and its explanation", () => {
  test("Enter opens the run: actual vs predicted with the band, phases, fast paths, flags, trace", async () => {
    const s = renderScreen(<DiagnoseApp source={offline()} />);
    try {
      await s.waitFor(/!\s+\w{8}\s*$/m);
      await s.press(KEY.down);
      await s.press(KEY.enter);
      const frame = await s.waitFor("Phases");
      expect(frame).toContain(`Run ${runs.slow.id}`);
      expect(frame).toMatch(/Actual 900 ms vs predicted [\d.]+ (?:ms|s|min) \(80% band [\d.]+ (?:ms|s|min)–[\d.]+ (?:ms|s|min)\): [\d.]+× the band's top/);
      expect(frame).toMatch(/transfer\s+█+·*\s+84% 756 ms/);
      expect(frame).toContain("copy_file_range carried 47.7 MiB (100% of the bytes) in 4,500 files");
      expect(frame).toContain("fast path reflink not taken");
      expect(frame).toContain("! slow-vs-prediction");
      expect(frame).toContain("no trace linked to this run");
      await s.press(KEY.escape);
      await s.waitFor("STARTED");
    } finally {
      s.unmount();
    }
  });

  test("e explains with the offline rules: claims with their evidence, the numbers on n, the command to try", async () => {
    const s = renderScreen(<DiagnoseApp source={offline()} initialRunId={runs.enumeration.id.slice(0, 8)} />);
    try {
      await s.waitFor("Phases");
      await s.press("e");
      let frame = await s.waitFor("answered by: offline rules");
      expect(frame).toMatch(/> Cause 1 \[E\d+(, E\d+)*\] high confidence/);
      expect(frame).toContain("Enumeration took 90% of the run");
      // The command to try is in the suggestion, with the run's real source path; no GLOB placeholder.
      expect(frame).toMatch(/Suggestion 1 \[E\d+(, E\d+)*\] no flag/);
      // The chosen claim's text is shown (one at a time: the panel keeps to the terminal's height).
      await s.press(KEY.down);
      frame = await s.waitFor(wrapped("du --inodes -d 1 /data/src | sort -n | tail -5"));
      expect(frame).toMatch(/^.*> Suggestion 1/m);
      expect(frame).not.toContain("GLOB");
      await s.press(KEY.up);
      await s.waitFor("Enumeration took 90% of the run");
      await s.press("n");
      frame = await s.waitFor("Numbers behind Cause 1:");
      expect(frame).toMatch(/E\d+\s+enumerate share: 90 %/);
      expect(frame).toMatch(/E\d+\s+enumerate phase: 5\.40 s/);
      await s.press(KEY.down);
      frame = await s.waitFor("Numbers behind Suggestion 1:");
      expect(frame).toMatch(/^.*> Suggestion 1/m);
    } finally {
      s.unmount();
    }
  });

  test("an ordinary run explains as nothing unusual", async () => {
    const s = renderScreen(<DiagnoseApp source={offline()} initialRunId={runs.ordinary.at(-1)!.id} />);
    try {
      await s.waitFor("Phases");
      await s.press("e");
      const frame = await s.waitFor("answered by: offline rules");
      expect(frame).toContain("Nothing unusual");
      expect(frame).toContain("No causes or suggestions: nothing to change.");
    } finally {
      s.unmount();
    }
  });
});

describe("the Explain panel with a model", () => {
  const good = (call: ChatCall) => ({
    summary: "Three times slower than similar runs, with nothing in the run itself to explain it.",
    causes: [{ text: "Likely outside load on the disks.", evidence: [idOf(call, "duration.total"), idOf(call, "prediction")], confidence: "medium" }],
    suggestions: [{ text: "Try more workers.", flag: "--workers 8", expectedEffect: "a shorter transfer", evidence: [idOf(call, "options.workers")] }],
  });

  test("shows the model's name, its claims with citations, and the drop of a claim citing a missing id", async () => {
    server.setReply((call) => {
      const a = good(call);
      a.causes.push({ text: "The network was down.", evidence: ["E404"], confidence: "high" });
      return completion(JSON.stringify(a));
    });
    const s = renderScreen(<DiagnoseApp source={withModel()} initialRunId={runs.slow.id} />);
    try {
      let frame = await s.waitFor("Phases");
      expect(frame).toContain("explainer: model test-model");
      await s.press("e");
      frame = await s.waitFor("answered by: model test-model");
      expect(frame).toContain("Likely outside load on the disks.");
      expect(frame).toMatch(/> Cause 1 \[E\d+, E\d+\] medium confidence/);
      expect(frame).toContain('dropped cause 2 ("The network was down."): cites E404, which is not in the evidence');
      expect(frame).not.toContain("The network was down.    ");
      expect(frame).toContain("Try: blit mirror /data/src /backup/dst --workers 8");
      expect(frame).not.toContain("Notice:");
    } finally {
      s.unmount();
    }
  });

  test("a server error shows the rules' answer and the fallback notice", async () => {
    server.setReply(() => Response.json({ error: { message: "overloaded" } }, { status: 503 }));
    const s = renderScreen(<DiagnoseApp source={withModel()} initialRunId={runs.enumeration.id} />);
    try {
      await s.waitFor("Phases");
      await s.press("e");
      const frame = await s.waitFor("answered by: offline rules");
      expect(frame).toMatch(wrapped("Notice: model test-model: server error (HTTP 503); the offline rules answered instead"));
      expect(frame).toContain("Enumeration took 90% of the run");
    } finally {
      s.unmount();
    }
  });

  test("a slow model shows a spinner, and Esc cancels to the rules", async () => {
    server.setReply(async (call) => {
      await Bun.sleep(4000);
      return completion(JSON.stringify(good(call)));
    });
    const s = renderScreen(<DiagnoseApp source={withModel({ model: "slow-model" })} initialRunId={runs.slow.id} />);
    try {
      await s.waitFor("Phases");
      await s.press("e");
      await s.waitFor(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] asking model slow-model \(Esc cancels/);
      await s.press(KEY.escape);
      const frame = await s.waitFor("answered by: offline rules", 2000);
      // Esc can land before the request is sent (a loaded machine): either way the rules answer.
      expect(frame).toMatch(new RegExp(`${wrapped("Notice: model slow-model: cancelled").source}(${wrapped(" before the call").source})?${wrapped("; the offline rules answered instead").source}`));
      expect(frame).toContain("outside load");
    } finally {
      s.unmount();
    }
  });
});

describe("the run page carries the machine and the timeline", () => {
  const small = tempDir();
  let contended: RunReport;
  let bare: RunReport;

  beforeAll(async () => {
    const r = await syntheticStore(small.store);
    bare = r.slow;
    contended = syntheticReport({ files: 4500, bytes: 50e6, totalMs: realisticMs(4500, 50e6, 3), startedAt: new Date(Date.parse("2025-04-20T02:00:00Z")) });
    contended.context = contendedContext();
    contended.timeline = Array.from({ length: 40 }, (_, i) => ({
      tMs: 250 * (i + 1),
      bytes: 1e6 + (i % 10) * 2e5,
      files: 90,
      selfCpuMs: 60,
      othersCpuShare: 0.8,
      cpuSome: i < 20 ? 0.2 : 0.7,
      ioSome: i % 5 === 0 ? 0.4 : 0.05,
    }));
    await record(contended, { path: small.store });
  }, 30_000);

  afterAll(() => small.remove());

  const source = () => storeSource({ path: small.store, settings: aiSettings({}) });

  for (const [columns, rows] of [[80, 24], [100, 30]] as const) {
    test(`at ${columns}×${rows}: the cause's kind, the machine and the sparkline fit, titles visible, no line wider than the terminal`, async () => {
      const s = renderScreen(<DiagnoseApp source={source()} initialRunId={contended.id} />, columns, rows);
      try {
        const frame = await s.waitFor("Timeline");
        const lines = frame.replace(/\n+$/, "").split("\n");
        // One row to spare: a frame as tall as the terminal would scroll the title away.
        expect(lines.length).toBeLessThan(rows);
        for (const l of lines) expect(l.length).toBeLessThanOrEqual(columns);
        expect(lines[0]).toContain("blit diagnose --ai");
        expect(frame).toContain(`Run ${contended.id}`);
        expect(frame).toMatch(/^\s+cpu-contention\s+\S/m);
        expect(frame).toContain("Machine");
        expect(frame).toMatch(/cpu\s+blit 1\.20 s user 400 ms sys · others 85% of 2 CPUs/);
        expect(frame).toMatch(/psi\s+cpu 70% · io 30%/);
        expect(frame).toMatch(/dst\s+sdb1 rotational ext4 SYNC at \/backup/);
        expect(frame).toMatch(/throughput\s+[▁▂▃▄▅▆▇█]{20,} peak 1\d\.\d MiB\/s/);
        expect(frame).toMatch(/CPU pressure\s+[▁▂▃▄▅▆▇█]{20,} peak 70%/);
        expect(frame).toMatch(/I\/O pressure\s+[▁▂▃▄▅▆▇█]{20,} peak 40%/);
        expect(frame).toContain("0 to 10.0 s, 40 samples");
        // All three lines on one time axis: the sparklines are the same width.
        const spark = (label: string) => frame.match(new RegExp(`${label}\\s+([▁▂▃▄▅▆▇█]+)`))![1]!.length;
        expect(spark("CPU pressure")).toBe(spark("throughput"));
        expect(spark("I/O pressure")).toBe(spark("throughput"));
        expect(lines.at(-1)).toContain("e explain");
      } finally {
        s.unmount();
      }
    });
  }

  test("a run without a timeline or machine facts says so", async () => {
    const s = renderScreen(<DiagnoseApp source={source()} initialRunId={bare.id} />, 100, 30);
    try {
      const frame = await s.waitFor("Timeline");
      expect(frame).toContain("no timeline recorded (run shorter than 250 ms or recorded before blit captured one)");
      expect(frame).toContain("no machine facts recorded");
    } finally {
      s.unmount();
    }
  });
});

function contendedContext(): RunContext {
  const device = (role: DeviceContext["role"], over: Partial<DeviceContext>): DeviceContext => ({
    role,
    path: role === "source" ? "/data/src" : "/backup/dst",
    mountPoint: role === "source" ? "/data" : "/backup",
    fsType: "ext4",
    device: "nvme0n1p2",
    mountOptions: ["rw", "relatime"],
    deviceClass: "ssd",
    sync: false,
    disk: { readIos: 100, writeIos: 400, readBytes: 50e6, writeBytes: 50e6, busyMs: 300, utilisation: 0.3, readAwaitMs: 0.4, writeAwaitMs: 1.2, othersReadShare: 0.02, othersWriteShare: 0.03 },
    ...over,
  });
  return {
    cpuCount: 2,
    self: { userMs: 1200, systemMs: 400, voluntaryCtxSwitches: 4000, involuntaryCtxSwitches: 900, majorFaults: 0 },
    load: { start: 4.2, end: 4.5 },
    pressure: { cpuSome: 0.7, ioSome: 0.3, ioFull: 0.1, memorySome: 0 },
    othersCpuShare: 0.85,
    devices: [device("source", {}), device("destination", { device: "sdb1", deviceClass: "rotational", sync: true, mountOptions: ["rw", "sync"] })],
    sourceCached: 0.95,
    openers: [],
  };
}

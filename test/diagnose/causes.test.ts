// The cause rules on recorded evidence: runs with hand-made contexts (the machine around them, as
// engine/context would record it) judged against a history of healthy runs, in memory. Each rule
// must name its kind first and cite facts that exist; an ordinary run gets nothing; a traced run
// gets the tracer and no advice from its distorted rates; contended runs teach the model nothing.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import {
  buildEvidence, CAUSE_KINDS, DIAGNOSE_REPORT_SCHEMA, record, EXPLANATION_SCHEMA, explainWithRules, fitPredictor, runRecordFromReport, predictShape, modelFor,
  schemaProblems, Scorer, uncitedClaims, unhealthyReason, type Explanation, type RunRecord,
} from "../../analytics/index.ts";
import type { DeviceContext, RunContext, RunReport } from "../../engine/index.ts";
import { diagnoseCommand } from "../../tui/diagnose-command.ts";
import { fakeIo, realisticMs, seeded, syntheticReport, tempDir, type SyntheticShape } from "./helpers.ts";

const start = Date.parse("2025-06-01T02:00:00Z");
const day = (i: number) => new Date(start + i * 86_400_000);

function device(role: DeviceContext["role"], over: Partial<DeviceContext> = {}, disk: Partial<NonNullable<DeviceContext["disk"]>> = {}): DeviceContext {
  return {
    role,
    path: role === "source" ? "/data/src" : "/backup/dst",
    mountPoint: role === "source" ? "/data" : "/backup",
    fsType: "ext4",
    device: role === "source" ? "nvme0n1p2" : "nvme0n1p3",
    mountOptions: ["rw", "relatime"],
    deviceClass: "ssd",
    sync: false,
    disk: {
      readIos: 100, writeIos: 400, readBytes: 50e6, writeBytes: 50e6, busyMs: 300, utilisation: 0.3,
      readAwaitMs: 0.4, writeAwaitMs: 1.2, othersReadShare: 0.02, othersWriteShare: 0.03, ...disk,
    },
    ...over,
  };
}

/** A quiet machine: what an ordinary run sees. */
function quiet(over: Partial<RunContext> = {}): RunContext {
  return {
    cpuCount: 2,
    self: { userMs: 300, systemMs: 500, voluntaryCtxSwitches: 4000, involuntaryCtxSwitches: 50, majorFaults: 0 },
    load: { start: 0.3, end: 0.6 },
    pressure: { cpuSome: 0.02, ioSome: 0.03, ioFull: 0.01, memorySome: 0 },
    othersCpuShare: 0.04,
    devices: [device("source"), device("destination")],
    sourceCached: 0.95,
    openers: [],
    ...over,
  };
}

function run(shape: Partial<SyntheticShape> & { factor?: number; context?: RunContext; startedAt: Date }): RunReport {
  const files = shape.files ?? 4500;
  const bytes = shape.bytes ?? 50e6;
  const r = syntheticReport({ files, bytes, totalMs: shape.totalMs ?? realisticMs(files, bytes, shape.factor ?? 1), ...shape });
  if (shape.context) r.context = shape.context;
  return r;
}

/** 30 healthy nightly mirrors of a 4,000–5,000 file tree, each with a quiet context. */
function healthyHistory(): RunReport[] {
  const random = seeded(11);
  return Array.from({ length: 30 }, (_, i) => {
    const files = 4000 + Math.round(random() * 1000);
    const bytes = 40e6 + Math.round(random() * 20e6);
    return run({ files, bytes, factor: Math.exp((random() - 0.5) * 0.2), startedAt: day(i), context: quiet() });
  });
}

const HISTORY = healthyHistory().map(runRecordFromReport);
const allTools = () => true;

/** What `blit diagnose` does for one run, in memory: fit without it, score, evidence, rules. */
function diagnose(report: RunReport, history: readonly RunRecord[] = HISTORY) {
  const target = runRecordFromReport(report);
  const predictor = fitPredictor(history, target);
  const scorer = new Scorer(predictor, history, target);
  const score = scorer.score(target);
  const evidence = buildEvidence({ report, score, similar: scorer.similar(target) });
  const explanation = explainWithRules(evidence, { which: allTools });
  return { score, evidence, explanation };
}

/** The top cause has `kind`, every citation exists, and the cause cites at least `keys`. */
function expectTop(d: ReturnType<typeof diagnose>, kind: string, keys: string[]): Explanation["causes"][number] {
  expect(d.explanation.causes.length).toBeGreaterThan(0);
  const top = d.explanation.causes[0]!;
  expect(top.kind).toBe(kind as never);
  expect(uncitedClaims(d.explanation, d.evidence)).toEqual([]);
  const byId = new Map(d.evidence.map((e) => [e.id, e.key]));
  const cited = top.evidence.map((id) => byId.get(id));
  for (const k of keys) expect(cited).toContain(k);
  expect(schemaProblems(EXPLANATION_SCHEMA, JSON.parse(JSON.stringify(d.explanation)))).toEqual([]);
  for (const c of d.explanation.causes) expect(CAUSE_KINDS).toContain(c.kind!);
  // Suggestions are commands with real values, never placeholders.
  expect(JSON.stringify(d.explanation)).not.toMatch(/GLOB|\bSRC\b|\bDST\b|<[a-z-]+>/);
  return top;
}

describe("an ordinary run", () => {
  test("within its band on a quiet machine: no cause, no flag, nothing unusual", () => {
    const d = diagnose(run({ startedAt: day(40), context: quiet() }));
    expect(d.score.flags).toEqual([]);
    expect(d.explanation.causes).toEqual([]);
    expect(d.explanation.suggestions).toEqual([]);
    expect(d.explanation.summary).toStartWith("Nothing unusual");
  });
});

describe("each cause rule names its kind first, citing facts that exist", () => {
  test("cpu-contention: others busy on every core", () => {
    const d = diagnose(run({ startedAt: day(41), factor: 3, context: quiet({ othersCpuShare: 0.85, pressure: { cpuSome: 0.7, ioSome: 0.04, ioFull: 0.01, memorySome: 0 }, load: { start: 4.2, end: 4.5 } }) }));
    const top = expectTop(d, "cpu-contention", ["context.others-cpu", "context.psi.cpu"]);
    expect(top.text).toContain("85% of all 2 CPUs");
    expect(d.explanation.suggestions[0]!.text).toContain("blit mirror /data/src /backup/dst");
  });

  test("CPU pressure with others' CPU near nil is blit's own: never blamed on other processes", () => {
    const ctx = quiet({ othersCpuShare: 0.03, pressure: { cpuSome: 0.5, ioSome: 0.02, ioFull: 0, memorySome: 0 } });
    const d = diagnose(run({ startedAt: day(54), factor: 3, context: ctx }));
    expect(d.explanation.causes.map((c) => c.kind)).not.toContain("cpu-contention");
    expect(JSON.stringify(d.explanation)).not.toMatch(/Other processes competed|outside load/);
  });

  test("io-contention: another writer on the destination disk", () => {
    const ctx = quiet({
      othersCpuShare: 0.12,
      pressure: { cpuSome: 0.05, ioSome: 0.55, ioFull: 0.3, memorySome: 0 },
      devices: [device("source"), device("destination", {}, { utilisation: 0.97, othersWriteShare: 0.82, writeAwaitMs: 35 })],
    });
    const top = expectTop(diagnose(run({ startedAt: day(42), factor: 2.4, context: ctx })), "io-contention", ["device.destination.others-io", "device.destination.utilisation"]);
    expect(top.text).toContain("nvme0n1p3");
  });

  test("io-contention: both ends on one busy disk give one cause and one suggestion, naming both ends", () => {
    const disk = { utilisation: 0.92, othersWriteShare: 0.99, othersReadShare: 1, writeAwaitMs: 2.2, readAwaitMs: 2.5 };
    const ctx = quiet({
      pressure: { cpuSome: 0.05, ioSome: 0.55, ioFull: 0.1, memorySome: 0 },
      devices: [device("source", { device: "vda" }, disk), device("destination", { device: "vda" }, disk)],
    });
    const d = diagnose(run({ startedAt: day(48), factor: 3, context: ctx }));
    const top = expectTop(d, "io-contention", ["device.destination.others-io"]);
    expect(top.text).toContain("device of both ends, vda");
    expect(d.explanation.causes.filter((c) => c.kind === "io-contention")).toHaveLength(1);
    expect(d.explanation.suggestions.filter((x) => x.text.includes("iostat -dx vda"))).toHaveLength(1);
  });

  test("slow-device: a loop device mounted -o sync, with nothing else running (not 'outside load')", () => {
    const ctx = quiet({
      pressure: { cpuSome: 0.02, ioSome: 0.8, ioFull: 0.6, memorySome: 0 },
      devices: [
        device("source"),
        device("destination", { device: "loop3", deviceClass: "loop", sync: true, mountPoint: "/mnt/sync dst", mountOptions: ["rw", "sync"] }, { utilisation: 0.95, othersWriteShare: 0.01, writeAwaitMs: 9 }),
      ],
    });
    const d = diagnose(run({ startedAt: day(43), factor: 8, context: ctx }));
    expectTop(d, "slow-device", ["device.destination.sync"]);
    expect(JSON.stringify(d.explanation)).not.toContain("outside load");
    expect(d.explanation.causes.map((c) => c.kind)).not.toContain("io-contention");
    expect(d.explanation.suggestions[0]!.text).toContain("mount -o remount,async '/mnt/sync dst'");
  });

  test("slow-device: a rotational disk answering at 60 ms per write", () => {
    const ctx = quiet({ devices: [device("source"), device("destination", { device: "sdb1", deviceClass: "rotational" }, { utilisation: 0.9, writeAwaitMs: 60, othersWriteShare: 0.05 })] });
    expectTop(diagnose(run({ startedAt: day(44), factor: 3, context: ctx })), "slow-device", ["device.destination", "device.destination.await"]);
  });

  test("cold-cache: the source's pages were not resident and enumeration dominated", () => {
    const ctx = quiet({ sourceCached: 0.04, devices: [device("source", {}, { utilisation: 0.8, readAwaitMs: 3 }), device("destination")] });
    const top = expectTop(diagnose(run({ startedAt: day(45), factor: 2.5, enumerateShare: 0.7, context: ctx })), "cold-cache", ["context.source-cached"]);
    expect(top.text).toContain("4% of the sampled files' pages");
  });

  test("enumeration: a flagged enumeration share on a warm cache", () => {
    const d = diagnose(run({ startedAt: day(46), files: 200_000, bytes: 2e9, copied: 0, totalMs: 6000, enumerateShare: 0.9, context: quiet() }));
    expectTop(d, "enumeration", ["share.enumerate"]);
  });

  test("scanner: readers of the destination that also load the CPUs rank above the anonymous CPU contention", () => {
    const ctx = quiet({ othersCpuShare: 0.58, pressure: { cpuSome: 0.93, ioSome: 0.1, ioFull: 0, memorySome: 0 }, openers: [{ pid: 777, name: "cat", files: 3 }] });
    const d = diagnose(run({ startedAt: day(49), factor: 3, context: ctx }));
    expectTop(d, "scanner", ["context.opener.1"]);
    expect(d.explanation.causes.map((c) => c.kind)).toContain("cpu-contention");
  });

  test("scanner: another process held the destination's files open (named)", () => {
    const ctx = quiet({ othersCpuShare: 0.15, openers: [{ pid: 4321, name: "clamd", files: 40 }] });
    const d = diagnose(run({ startedAt: day(47), factor: 2, context: ctx }));
    const top = expectTop(d, "scanner", ["context.opener.1"]);
    expect(top.text).toStartWith("clamd (pid 4321)");
    expect(d.explanation.suggestions[0]!.text).toContain("ps -o pid,comm,args -p 4321");
  });

  test("bwlimit: a throttle that set the pace", () => {
    const bytes = 50e6;
    const d = diagnose(run({ startedAt: day(48), bwlimit: 5e6, totalMs: 11_000, bytes, context: quiet() }));
    expectTop(d, "bwlimit", ["options.bwlimit"]);
    expect(d.explanation.suggestions[0]!.flag).toBe("--bwlimit 0");
  });

  test("workers: many small files with one worker where runs like it use four", () => {
    const d = diagnose(run({ startedAt: day(49), workers: 1, factor: 2.5, context: quiet() }));
    expectTop(d, "workers", ["options.workers", "similar.workers"]);
    expect(d.explanation.suggestions[0]!.flag).toBe("--workers 4");
  });

  test("workers: sixteen workers where runs like it were faster with four", () => {
    const d = diagnose(run({ startedAt: day(53), workers: 16, factor: 2.5, context: quiet() }));
    const top = expectTop(d, "workers", ["options.workers", "similar.best-workers"]);
    expect(top.text).toStartWith("16 workers copied");
    expect(d.explanation.suggestions[0]!.flag).toBe("--workers 4");
    expect(d.explanation.suggestions[0]!.text).toContain("blit mirror /data/src /backup/dst --workers 4");
  });

  test("fast-path: a cross-device copy through userspace, with the expected saving", () => {
    const bytes = 2e9;
    const d = diagnose(run({
      startedAt: day(50), bytes, files: 4500, factor: 1.6, destinationFs: "ext4", context: quiet(),
      bytesByPath: { stream: bytes }, fastPathNotes: { copy_file_range: "copy_file_range refused: EXDEV (cross-device link)" },
    }));
    expectTop(d, "fast-path", ["fastpath.stream", "fastpath-note.copy_file_range"]);
    expect(d.explanation.suggestions[0]!.expectedEffect).toMatch(/about .* of the run's .* byte cost/);
  });

  test("fast-path: a copy from a cloning filesystem to another one, with what a clone would save", () => {
    const bytes = 2e9;
    const exdev = (path: string) => `${path} refused: EXDEV (cross-device link) on ext4`;
    const d = diagnose(run({
      startedAt: day(54), bytes, files: 40, factor: 1.6, sourceFs: "xfs", destinationFs: "ext4", context: quiet(),
      bytesByPath: { sendfile: bytes }, fastPathNotes: { reflink: exdev("reflink"), copy_file_range: exdev("copy_file_range") },
    }));
    const top = expectTop(d, "fast-path", ["fs.pair", "phase.transfer", "fastpath.sendfile"]);
    expect(top.text).toContain("xfs -> ext4");
    expect(d.explanation.suggestions[0]!.expectedEffect).toMatch(/^the 1\.9 GiB would be cloned instead of written: about .* of the .* transfer phase$/);
  });

  test("a run three times faster than similar runs gets no flag and no cause (its score still says so)", () => {
    const d = diagnose(run({ startedAt: day(58), factor: 0.33, context: quiet() }));
    expect(d.score.flags).toEqual([]);
    expect(d.explanation.causes).toEqual([]);
    expect(d.score.peerRatio).toBeLessThan(0.5);
    expect(d.score.score!).toBeLessThan(-3.5);
  });

  test("a clone within XFS is compared with no copy between ext4 filesystems: no fast flag from the route's model", () => {
    // 1 GB cloned in 120 ms; the 30 runs of the history are ext4 -> ext4 copies
    const d = diagnose(run({ startedAt: day(57), bytes: 1e9, files: 16, totalMs: 120, sourceFs: "xfs", destinationFs: "xfs", context: quiet(), bytesByPath: { reflink: 1e9 } }));
    expect(d.score.flags).toEqual([]);
    expect(d.score.reference.scope).toBe("none");
  });

  test("fast-path: not named when it would not matter, nor from a filesystem that cannot clone", () => {
    const exdev = { reflink: "reflink refused: EXDEV (cross-device link) on ext4" };
    // 50 MB across filesystems: the clone would save less than 200 ms
    const small = diagnose(run({ startedAt: day(55), sourceFs: "xfs", destinationFs: "ext4", context: quiet(), bytesByPath: { sendfile: 50e6 }, fastPathNotes: exdev }));
    expect(small.explanation.causes.map((c) => c.kind)).not.toContain("fast-path");
    // ext4 clones nothing: a copy from it to xfs lost no clone
    const bytes = 2e9;
    const ext4 = diagnose(run({ startedAt: day(56), bytes, files: 40, sourceFs: "ext4", destinationFs: "xfs", context: quiet(), bytesByPath: { sendfile: bytes }, fastPathNotes: exdev }));
    expect(ext4.explanation.causes.map((c) => c.kind)).not.toContain("fast-path");
  });

  test("tracer: the tracer's cost, and no reflink or workers advice from a traced run", () => {
    // strace's own CPU shows up as others'; small files, one worker and 600 MB without reflink would
    // each earn advice on an untraced run.
    const ctx = quiet({ tracer: { pid: 999, name: "strace" }, othersCpuShare: 0.45, pressure: { cpuSome: 0.3, ioSome: 0.02, ioFull: 0, memorySome: 0 } });
    const d = diagnose(run({ startedAt: day(51), workers: 1, bytes: 600e6, factor: 6, context: ctx }));
    const top = expectTop(d, "tracer", ["context.tracer"]);
    expect(top.text).toContain("strace (pid 999)");
    expect(d.explanation.suggestions.some((s) => s.flag?.startsWith("--workers"))).toBe(false);
    expect(JSON.stringify(d.explanation)).not.toMatch(/reflink|XFS/);
    expect(d.explanation.causes.map((c) => c.kind)).not.toContain("cpu-contention");
    expect(d.explanation.suggestions[0]!.text).toContain("blit mirror /data/src /backup/dst");
  });

  test("unexplained: slow while the context shows no contention is never called outside load", () => {
    const d = diagnose(run({ startedAt: day(52), factor: 3, context: quiet() }));
    expectTop(d, "unexplained", ["prediction.expected", "context.others-cpu"]);
    expect(JSON.stringify(d.explanation)).not.toContain("outside load");
    expect(d.explanation.summary).not.toContain("Nothing unusual");
  });
});

describe("flags compare like with like", () => {
  test("an 80k × 1 KiB run that beat its prediction is not a throughput collapse next to large-file runs", () => {
    const random = seeded(3);
    const history: RunRecord[] = [];
    // Large files move at ~400 MB/s; a few small-file runs keep the model honest about files.
    for (let i = 0; i < 24; i++) {
      const large = i % 3 !== 0;
      const files = large ? 40 + Math.round(random() * 20) : 60_000 + Math.round(random() * 40_000);
      const bytes = large ? files * 25e6 : files * 1024;
      history.push(runRecordFromReport(run({ startedAt: day(i), files, bytes, smallShare: large ? 0 : 1, factor: Math.exp((random() - 0.5) * 0.2) })));
    }
    const small = run({ startedAt: day(30), files: 80_000, bytes: 80_000 * 1024, smallShare: 1, factor: 0.8 });
    const d = diagnose(small, history);
    expect(d.score.ratio).toBeLessThan(1);
    expect(d.score.flags.map((f) => f.kind)).not.toContain("throughput-collapse");
    expect(d.explanation.causes).toEqual([]);
  });
});

describe("learning from healthy runs only", () => {
  test("each contention fact at its documented threshold makes a run unhealthy; just under it does not", () => {
    const h = (context: RunContext) => runRecordFromReport(run({ startedAt: day(400), context }));
    const psi = (over: Partial<NonNullable<RunContext["pressure"]>>) => ({ cpuSome: 0, ioSome: 0, ioFull: 0, memorySome: 0, ...over });
    expect(unhealthyReason(h(quiet({ othersCpuShare: 0.24 })))).toBeUndefined();
    expect(unhealthyReason(h(quiet({ othersCpuShare: 0.25 })))).toBe("other processes' CPU");
    expect(unhealthyReason(h(quiet({ othersCpuShare: 0.1, pressure: psi({ cpuSome: 0.15 }) })))).toBe("CPU pressure");
    // blit's own workers wait for the CPUs too: pressure with others' CPU near nil is blit's own.
    expect(unhealthyReason(h(quiet({ othersCpuShare: 0.04, pressure: psi({ cpuSome: 0.9 }) })))).toBeUndefined();
    // I/O pressure counts where no device says whose I/O it was (tmpfs to a network filesystem here).
    const noCounters = [{ ...device("source", { deviceClass: "memory", fsType: "tmpfs" }), disk: undefined }, { ...device("destination", { deviceClass: "network", fsType: "nfs4" }), disk: undefined }];
    expect(unhealthyReason(h(quiet({ devices: noCounters, pressure: psi({ ioSome: 0.15 }) })))).toBe("I/O pressure");
    expect(unhealthyReason(h(quiet({ pressure: psi({ ioSome: 0.6 }) })))).toBeUndefined();
    expect(unhealthyReason(h(quiet({ pressure: psi({ memorySome: 0.1 }) })))).toBe("memory pressure");
    expect(unhealthyReason(h(quiet({ devices: [device("source"), device("destination", {}, { othersWriteShare: 0.3, utilisation: 0.2 })] })))).toBe("others' I/O on the destination device");
    // Others' bytes on an idle device are no contention.
    expect(unhealthyReason(h(quiet({ devices: [device("source"), device("destination", {}, { othersWriteShare: 0.9, utilisation: 0.1 })] })))).toBeUndefined();
    expect(unhealthyReason(h(quiet({ tracer: { pid: 1, name: "perf" } })))).toBe("traced by perf");
    expect(unhealthyReason(h(quiet({ openers: [{ pid: 2, name: "updatedb", files: 1 }] })))).toBe("other processes on the destination's files");
    const sync = h(quiet({ devices: [device("source"), device("destination", { sync: true })] }));
    expect(unhealthyReason(sync)).toBe("device destination:sync");
    expect(unhealthyReason(sync, sync)).toBeUndefined();
    // A run recorded before contexts existed is healthy: nothing says otherwise.
    expect(unhealthyReason(runRecordFromReport(run({ startedAt: day(401) })))).toBeUndefined();
  });

  test("contended, traced and scanned runs in the history do not raise the next run's prediction", () => {
    const random = seeded(5);
    // More contended runs than healthy ones: trimming alone could not tell which are the outliers.
    const contended = Array.from({ length: 40 }, (_, i) => {
      const files = 4000 + Math.round(random() * 1000);
      const bytes = 40e6 + Math.round(random() * 20e6);
      const ctx = i % 3 === 0
        ? quiet({ othersCpuShare: 0.8, pressure: { cpuSome: 0.6, ioSome: 0.05, ioFull: 0, memorySome: 0 } })
        : i % 3 === 1 ? quiet({ tracer: { pid: 77, name: "strace" } }) : quiet({ openers: [{ pid: 88, name: "clamd", files: 30 }] });
      return runRecordFromReport(run({ startedAt: day(100 + i), files, bytes, factor: 3 + random(), context: ctx }));
    });
    const shape = { files: 4500, bytes: 50e6, entries: 4545, dirs: 45 };
    const predict = (h: readonly RunRecord[]) => predictShape(modelFor(fitPredictor(h), "local", "ext4", "ext4"), shape).durationMs;
    const healthy = predict(HISTORY);
    const mixed = predict([...HISTORY, ...contended]);
    expect(Math.abs(mixed / healthy - 1)).toBeLessThan(0.02);
    // The same runs without their context (as before it was recorded) raise it: the filter does the work.
    const blind = predict([...HISTORY, ...contended.map(({ context: _c, ...r }) => r)]);
    expect(blind / healthy).toBeGreaterThan(1.3);
    // ...and the reference of similar runs ignores them too: an ordinary run stays unflagged.
    const next = run({ startedAt: day(200), context: quiet() });
    const d = diagnose(next, [...HISTORY, ...contended]);
    expect(d.score.reference.runs).toBeLessThanOrEqual(HISTORY.length);
    expect(d.score.flags).toEqual([]);
  });

  test("slow runs recorded without a context do not widen the reference: the next slow run is still flagged", () => {
    const random = seeded(9);
    const slowBlind = Array.from({ length: 14 }, (_, i) => {
      const files = 4000 + Math.round(random() * 1000);
      const bytes = 40e6 + Math.round(random() * 20e6);
      return runRecordFromReport(run({ startedAt: day(500 + i), files, bytes, factor: 2.5 + random() }));
    });
    const d = diagnose(run({ startedAt: day(600), factor: 3, context: quiet() }), [...HISTORY, ...slowBlind]);
    expect(d.score.reference.medianRatio!).toBeLessThan(1.15);
    expect(d.score.flags.map((x) => x.kind)).toContain("slow-vs-prediction");
  });

  test("a sync-mounted run is judged with its peers on the same setup, and they stay out of an ordinary run's reference", () => {
    const syncCtx = () => quiet({ devices: [device("source"), device("destination", { deviceClass: "loop", device: "loop3", sync: true })] });
    const syncRuns = Array.from({ length: 10 }, (_, i) => runRecordFromReport(run({ startedAt: day(300 + i), factor: 5, context: syncCtx() })));
    const ordinary = diagnose(run({ startedAt: day(320), context: quiet() }), [...HISTORY, ...syncRuns]);
    expect(ordinary.score.reference.runs).toBe(HISTORY.length);
    const target = runRecordFromReport(run({ startedAt: day(321), factor: 5, context: syncCtx() }));
    const peers = new Scorer(fitPredictor([...HISTORY, ...syncRuns], target), [...HISTORY, ...syncRuns], target);
    expect(peers.similar(target).length).toBe(HISTORY.length + syncRuns.length);
  });
});

describe("blit diagnose --format json on a stored run with its context", () => {
  test("every flag and cause carries a kind from the documented lists, and the report matches the schema", async () => {
    const tmp = tempDir();
    try {
      for (const r of healthyHistory()) await record(r, { path: tmp.store });
      const ctx = quiet({
        pressure: { cpuSome: 0.01, ioSome: 0.85, ioFull: 0.7, memorySome: 0 },
        devices: [device("source"), device("destination", { device: "loop3", deviceClass: "loop", sync: true, mountPoint: "/mnt/sync" }, { utilisation: 0.97, othersWriteShare: 0, writeAwaitMs: 12 })],
      });
      const slow = run({ startedAt: day(60), factor: 10, context: ctx });
      await record(slow, { path: tmp.store });
      const f = fakeIo({ BLIT_HOME: join(tmp.dir, "home") });
      expect(await diagnoseCommand([slow.id, "--format", "json"], f.io)).toBe(0);
      const json = JSON.parse(f.stdout());
      expect(schemaProblems(DIAGNOSE_REPORT_SCHEMA, json)).toEqual([]);
      expect(json.flags.map((x: { kind: string }) => x.kind)).toContain("slow-vs-prediction");
      expect(json.explanation.causes[0].kind).toBe("slow-device");
      for (const c of json.explanation.causes) expect(CAUSE_KINDS).toContain(c.kind);
      expect(f.stdout()).not.toContain("outside load");
      // The text report names the kind beside each cause.
      const t = fakeIo({ BLIT_HOME: join(tmp.dir, "home") });
      expect(await diagnoseCommand([slow.id], t.io)).toBe(0);
      expect(t.stdout()).toMatch(/1\. slow-device: The destination device set the pace/);
      expect(t.stdout()).toContain("mount -o remount,async /mnt/sync");
    } finally {
      tmp.remove();
    }
  }, 60_000);
});

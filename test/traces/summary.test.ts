// What a trace's summary says, checked against numbers the test works out itself from the trace it
// writes: bytes per file under the name a temporary was renamed to, the top lists, exact latency
// percentiles, and ties.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { ingestTrace } from "../../traces/index.ts";
import { withTempDir } from "./helpers.ts";

/** quantile_cont as a statistician computes it: linear interpolation between the closest ranks. */
function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

/** strace -f -ttt -T lines, one clock tick (0.1 ms) apart. */
class StraceText {
  private lines: string[] = [];
  private t = 1_700_000_000;

  call(text: string, seconds: number): void {
    this.t += 0.0001;
    this.lines.push(`100 ${this.t.toFixed(6)} ${text} <${seconds.toFixed(6)}>`);
  }

  /** Writes `bytes` to `path.tmp` and renames it to `path`; returns the write's duration. */
  writeViaTemp(path: string, bytes: number, seconds: number): void {
    this.call(`openat(AT_FDCWD, "${path}.tmp", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644) = 3`, 0.000031);
    this.call(`write(3, "abc"..., ${bytes}) = ${bytes}`, seconds);
    this.call("close(3) = 0", 0.000005);
    this.call(`rename("${path}.tmp", "${path}") = 0`, 0.00002);
  }

  read(path: string, bytes: number): void {
    this.call(`openat(AT_FDCWD, "${path}", O_RDONLY|O_CLOEXEC) = 4`, 0.000011);
    this.call(`read(4, "abc"..., 65536) = ${bytes}`, 0.000021);
    this.call(`read(4, "", 65536) = 0`, 0.000003);
    this.call("close(4) = 0", 0.000004);
  }

  save(path: string): string {
    writeFileSync(path, this.lines.join("\n") + "\n");
    return path;
  }
}

describe("a trace's summary", () => {
  test("bytes by file count a temporary's writes under its final name; the 20 most written and the 20 most read", () =>
    withTempDir(async (dir) => {
      const trace = new StraceText();
      const writeSeconds: number[] = [];
      for (let i = 0; i < 30; i++) {
        // durations that are not evenly spaced, so interpolation matters
        const seconds = Number((0.00001 + ((i * 37) % 30) * 0.0000123 + (i % 7) * 0.000001).toFixed(6));
        writeSeconds.push(seconds);
        trace.writeViaTemp(`/data/dst/f${i}.dat`, 1000 * (i + 1), seconds);
      }
      for (let j = 0; j < 25; j++) trace.read(`/data/src/g${j}.dat`, 700 * (j + 1));
      const r = await ingestTrace(trace.save(join(dir, "copy.strace")), { storePath: join(dir, "t.duckdb") });
      const s = r.summary;

      const written = Array.from({ length: 20 }, (_, k) => 29 - k)
        .map((i) => ({ path: `/data/dst/f${i}.dat`, ops: 4, readBytes: 0, writeBytes: 1000 * (i + 1) }));
      const read = Array.from({ length: 20 }, (_, k) => 24 - k)
        .map((j) => ({ path: `/data/src/g${j}.dat`, ops: 4, readBytes: 700 * (j + 1), writeBytes: 0 }));
      expect(s.bytesByFile).toEqual([...written, ...read]);
      expect(s.bytesByFile.some((f) => f.path.endsWith(".tmp"))).toBe(false);

      const sorted = [...writeSeconds].sort((a, b) => a - b);
      const write = s.latency.find((l) => l.kind === "write")!;
      expect(write.count).toBe(30);
      expect(write.p50Ms).toBeCloseTo(quantile(sorted, 0.5) * 1000, 3);
      expect(write.p90Ms).toBeCloseTo(quantile(sorted, 0.9) * 1000, 3);
      expect(write.p99Ms).toBeCloseTo(quantile(sorted, 0.99) * 1000, 3);
      expect(write.maxMs).toBeCloseTo(sorted.at(-1)! * 1000, 3);
      // 25 files read twice each (the second read returns 0), every duration the same
      const reads = s.latency.find((l) => l.kind === "read")!;
      expect(reads).toMatchObject({ count: 50, p50Ms: 0.012, maxMs: 0.021 });
      expect(s.latency.map((l) => l.count)).toEqual([...s.latency.map((l) => l.count)].sort((a, b) => b - a));
    }));

  test("files that tie are listed once each, at most 20, in path order", () =>
    withTempDir(async (dir) => {
      const trace = new StraceText();
      for (let i = 0; i < 25; i++) trace.writeViaTemp(`/data/dst/same-${String(i).padStart(2, "0")}.dat`, 4096, 0.00004);
      const r = await ingestTrace(trace.save(join(dir, "ties.strace")), { storePath: join(dir, "t.duckdb") });
      const files = r.summary.bytesByFile;
      expect(files).toHaveLength(20);
      expect(new Set(files.map((f) => f.path)).size).toBe(20);
      for (const f of files) {
        expect(f.path).toMatch(/^\/data\/dst\/same-\d\d\.dat$/);
        expect(f).toMatchObject({ ops: 4, readBytes: 0, writeBytes: 4096 });
      }
      expect(files.map((f) => f.path)).toEqual(files.map((f) => f.path).sort());
    }));
});

// Trace ingestion throughput and memory: generates a large strace text file and a perf script file
// (realistic lines, varying pids, paths and times), then measures parse-only and parse + DuckDB
// append speed and the peak resident memory of each (the kernel's high-water mark), in a child
// process per measurement.
//   bun test/bench/traces-bench.ts [--size 200M|1G]
// Files live in a blit-test- temp dir that is removed at the end, whatever happens.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const ROOT = resolve(import.meta.dir, "../..");

if (process.argv[2] === "--child") {
  await child(process.argv[3]!, process.argv[4]!, process.argv[5]!);
  process.exit(0);
}

const { values } = parseArgs({ args: process.argv.slice(2), options: { size: { type: "string" } } });
const size = parseSize(values.size ?? "200M");
const dir = mkdtempSync(join(tmpdir(), "blit-test-bench-"));
const live = new Set<ReturnType<typeof Bun.spawn>>();
const stop = () => {
  for (const p of live) p.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
  process.exit(130);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
try {
  const files = { strace: join(dir, "big.strace"), "perf-script": join(dir, "big.perf.txt") };
  generate(files.strace, size, straceLines);
  generate(files["perf-script"], size, perfLines);
  const rows: string[][] = [];
  for (const [format, file] of Object.entries(files)) {
    for (const mode of ["parse", "ingest"]) {
      const r = await measure(mode, file, join(dir, `${format}-${mode}.duckdb`));
      const mb = statSync(file).size / 1e6;
      rows.push([format, mode, `${mb.toFixed(0)} MB`, String(r.events), `${r.seconds.toFixed(2)} s`, `${(mb / r.seconds).toFixed(1)} MB/s`, `${r.peakMiB.toFixed(0)} MiB`]);
      rmSync(join(dir, `${format}-${mode}.duckdb`), { force: true });
      rmSync(join(dir, `${format}-${mode}.duckdb.wal`), { force: true });
    }
  }
  const head = ["format", "mode", "size", "events", "time", "rate", "peak RSS"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join("  "));
  console.log("targets: >= 50 MB/s for strace and perf script text; peak RSS under 300 MiB at 1 GB");
} finally {
  for (const p of live) p.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}

/** One measurement in a fresh process, so peak RSS is this work's alone. */
async function measure(mode: string, file: string, store: string): Promise<{ events: number; seconds: number; peakMiB: number }> {
  const proc = Bun.spawn([process.execPath, import.meta.path, "--child", mode, file, store], { cwd: ROOT, stdout: "pipe", stderr: "inherit" });
  live.add(proc);
  const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
  live.delete(proc);
  if (code !== 0) throw new Error(`${mode} of ${file} exited ${code}`);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

async function child(mode: string, file: string, store: string): Promise<void> {
  const { ingestTrace, readTrace } = await import("../../traces/index.ts");
  let peak = process.memoryUsage.rss();
  const sample = () => {
    const rss = process.memoryUsage.rss();
    if (rss > peak) peak = rss;
  };
  const t0 = performance.now();
  let events = 0;
  if (mode === "parse") {
    for (const item of readTrace(file)) {
      if (item.event) events++;
      if ((events & 0xffff) === 0) sample();
    }
  } else {
    const r = await ingestTrace(file, { storePath: store, onProgress: sample });
    events = r.events;
  }
  sample();
  const seconds = (performance.now() - t0) / 1000;
  // the kernel's high-water mark catches peaks between samples (DuckDB's queries run off this thread)
  const hwm = /^VmHWM:\s*(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
  if (hwm) peak = Math.max(peak, Number(hwm[1]) * 1024);
  console.log(JSON.stringify({ events, seconds, peakMiB: peak / 1048576 }));
}

function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMG]?)B?$/i.exec(text.trim());
  if (!m) throw new RangeError(`--size needs a size like 200M or 1G, got '${text}'`);
  return Math.round(+m[1]! * { "": 1, K: 1e3, M: 1e6, G: 1e9 }[m[2]!.toUpperCase() as "" | "K" | "M" | "G"]);
}

/** Writes blocks of generated lines until the file reaches `size` bytes. */
function generate(path: string, size: number, block: (i: number) => string): void {
  const fd = openSync(path, "w");
  try {
    let written = 0;
    for (let i = 0; written < size; i++) {
      const text = block(i);
      written += writeSync(fd, text);
    }
  } finally {
    closeSync(fd);
  }
}

/** A worker copying one file, as strace -f -tt -T shows it. */
function straceLines(i: number): string {
  const pid = 4000 + (i % 16);
  const t = 36000 + i * 0.0005;
  const ts = (d: number) => {
    const s = t + d;
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = (s % 60).toFixed(6).padStart(9, "0");
    return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${sec}`;
  };
  const src = `/data/src/dir${i % 97}/file-${i}.dat`;
  const dst = `/data/dst/dir${i % 97}/file-${i}.dat`;
  return [
    `${pid} ${ts(0)} openat(AT_FDCWD, "${src}", O_RDONLY|O_CLOEXEC) = 19 <0.000011>`,
    `${pid} ${ts(0.00001)} newfstatat(19, "", {st_mode=S_IFREG|0644, st_size=65536, ...}, AT_EMPTY_PATH) = 0 <0.000004>`,
    `${pid} ${ts(0.00002)} openat(AT_FDCWD, "${dst}.tmp", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644) = 20 <0.000031>`,
    `${pid} ${ts(0.00003)} read(19, "\\177ELF\\2\\1\\1\\0\\0\\0\\0\\0\\0\\0\\0\\0\\3\\0>\\0\\1\\0\\0\\0"..., 65536) = 65536 <0.000021>`,
    `${pid} ${ts(0.00004)} write(20, "\\177ELF\\2\\1\\1\\0\\0\\0\\0\\0\\0\\0\\0\\0\\3\\0>\\0\\1\\0\\0\\0"..., 65536 <unfinished ...>`,
    `${pid + 100} ${ts(0.00005)} futex(0x7f2c4c000b78, FUTEX_WAKE_PRIVATE, 1) = 0 <0.000006>`,
    `${pid} ${ts(0.00006)} <... write resumed>) = 65536 <0.000040>`,
    `${pid} ${ts(0.00007)} fsync(20) = 0 <0.000180>`,
    `${pid} ${ts(0.00008)} close(20) = 0 <0.000005>`,
    `${pid} ${ts(0.00009)} close(19) = 0 <0.000004>`,
    `${pid} ${ts(0.0001)} renameat(AT_FDCWD, "${dst}.tmp", AT_FDCWD, "${dst}") = 0 <0.000020>`,
    `${pid} ${ts(0.00011)} statx(AT_FDCWD, "${dst}", AT_STATX_SYNC_AS_STAT, STATX_ALL, {stx_mask=STATX_ALL, stx_size=65536, ...}) = 0 <0.000008>`,
    "",
  ].join("\n");
}

/** perf script: syscall tracepoints, block I/O and sampled stacks over several processes. */
function perfLines(i: number): string {
  const pid = 7000 + (i % 24);
  const t = (12345.0 + i * 0.0004).toFixed(6);
  const t2 = (12345.0 + i * 0.0004 + 0.00009).toFixed(6);
  const sector = 1000000 + i * 8;
  return [
    `            blit ${pid}/${pid + 1} [00${i % 8}] ${t}: syscalls:sys_enter_write: fd: 0x00000014, buf: 0x7f2c4c000b78, count: 0x00010000`,
    `            blit ${pid}/${pid + 1} [00${i % 8}] ${t2}:  syscalls:sys_exit_write: 0x10000`,
    `            blit ${pid}/${pid + 1} [00${i % 8}] ${t}:          1    block:block_rq_issue: 259,0 W 65536 () ${sector} + 128 [blit]`,
    `         swapper     0/0     [00${i % 8}] ${t2}:          1 block:block_rq_complete: 259,0 W () ${sector} + 128 [0]`,
    `MsMpEng.exe ${pid + 50}/${pid + 51} [00${(i + 1) % 8}] ${t}:    1001001 cpu-clock: `,
    `\t    7f2c4c0a1b2c scan_buffer (/usr/lib/scanner/libscan.so)`,
    `\t    7f2c4c0a0000 scan_file (/usr/lib/scanner/libscan.so)`,
    `\t    55d1c2a3b4c5 main (/usr/bin/scanner)`,
    "",
    "",
  ].join("\n");
}

// Two commands timed in turn (A B A B ...), for "is this build slower than that one": the ratio
// is taken pair by pair, so a drift of the machine's speed during the call cancels out.
//
//   bun test/bench/paired.ts [-n PAIRS] -- 'COMMAND A' 'COMMAND B'
//
// Each command is one string split on spaces (no shell, no quoting). One warm-up of each is not
// counted. Prints each command's median wall time and peak memory, and the median, minimum and
// maximum of the per-pair ratios A/B. Used for the before/after figures in docs/benchmarks.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { median, timed } from "./measure.ts";

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  options: { n: { type: "string", short: "n", default: "15" }, help: { type: "boolean", short: "h" } },
  allowPositionals: true,
});
if (values.help || positionals.length !== 2) {
  console.log("Usage: bun test/bench/paired.ts [-n PAIRS] -- 'COMMAND A' 'COMMAND B'");
  process.exit(values.help ? 0 : 2);
}
const pairs = Number(values.n);
if (!Number.isInteger(pairs) || pairs < 3) {
  console.error(`paired: -n must be an integer of at least 3 (got '${values.n}')`);
  process.exit(2);
}
const [a, b] = positionals.map((c) => c.split(" ").filter(Boolean)) as [string[], string[]];
const work = mkdtempSync(join(tmpdir(), "blit-paired-"));
try {
  const timeFile = join(work, "time");
  const once = async (cmd: string[]) => {
    const t = await timed(cmd, { timeFile });
    if (t.exitCode !== 0) throw new Error(`'${cmd.join(" ")}' exited ${t.exitCode}: ${t.stderr.trim().slice(0, 500)}`);
    return t;
  };
  await once(a);
  await once(b);
  const ms: [number[], number[]] = [[], []];
  const peak: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const ta = await once(a);
    const tb = await once(b);
    ms[0].push(ta.ms);
    ms[1].push(tb.ms);
    if (ta.peakKiB !== null) peak[0].push(ta.peakKiB / 1024);
    if (tb.peakKiB !== null) peak[1].push(tb.peakKiB / 1024);
    ratios.push(ta.ms / tb.ms);
  }
  const row = (label: string, k: 0 | 1) =>
    `${label}  wall median ${(median(ms[k]) / 1000).toFixed(3)} s  (min ${(Math.min(...ms[k]) / 1000).toFixed(3)}, max ${(Math.max(...ms[k]) / 1000).toFixed(3)})` +
    (peak[k].length ? `  peak median ${median(peak[k]).toFixed(1)} MiB` : "");
  console.log(`A = ${a.join(" ")}\nB = ${b.join(" ")}\n${pairs} pairs after one warm-up each`);
  console.log(row("A", 0));
  console.log(row("B", 1));
  console.log(`A/B wall, pair by pair: median ${median(ratios).toFixed(3)}  (min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)})`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

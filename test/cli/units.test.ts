// One voice for numbers: a run's summary and `blit diagnostics perf` print the same size and the
// same rate (IEC units, bytes over the transfer phase), with plurals that agree with the count.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { runCli, tempDirs } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

describe("the copy summary and diagnostics perf agree", () => {
  test("same size and rate for the same run, in IEC units", async () => {
    const t = temps.make();
    mkdirSync(t.join("src/sub"), { recursive: true });
    for (let i = 0; i < 5; i++) writeFileSync(t.join(`src/sub/f${i}`), Buffer.alloc(300_000 + i * 1000, i + 1));
    writeFileSync(t.join("src/one"), "x");
    const copy = await runCli(["copy", t.join("src"), t.join("dst")], { home: t.home });
    expect(copy.exitCode).toBe(0);
    // "  copied 6 (1.4 MiB), skipped 0 unchanged, 2 dirs created" and "…, 12.3 MiB/s, 1 worker"
    const copied = copy.stdout.match(/copied 6 \((\d+(?:\.\d)? (?:B|KiB|MiB))\)/);
    expect(copied).not.toBeNull();
    const rate = copy.stdout.match(/time .*\), (\d+(?:\.\d)? (?:B|KiB|MiB|GiB)\/s), \d+ workers?$/m);
    expect(rate).not.toBeNull();
    expect(copy.stdout).toMatch(/source: 6 files \(/);
    expect(copy.stdout).not.toMatch(/\b1 (files|workers|dirs|symlinks)\b/);
    expect(copy.stdout).not.toMatch(/\b(kB|MB|GB)\b/);

    const perf = await runCli(["diagnostics", "perf"], { home: t.home });
    expect(perf.exitCode).toBe(0);
    const row = perf.stdout.split("\n")[1]!;
    expect(row).toContain(`  ${copied![1]}  `);
    expect(row).toContain(`  ${rate![1]}  `);
    // The start time names its zone.
    expect(row).toMatch(/^[0-9a-f]{8}  \d{4}-\d\d-\d\d \d\d:\d\d (UTC|[+-]\d\d:\d\d)  copy /);

    // --json keeps raw numbers.
    const json = await runCli(["diagnostics", "perf", "--json"], { home: t.home });
    expect(json.json[0].copiedBytes).toBe(5 * 300_000 + 10_000 + 1);
    expect(typeof json.json[0].transferMs).toBe("number");
  });
});

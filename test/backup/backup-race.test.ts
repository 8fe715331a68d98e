// The backup directory under attack: a real unprivileged user (`nobody`) owns the backup
// directory inside DST and swaps its subdirectory `d` for a symlink to a root-only directory and
// back, as fast as renameat2(RENAME_EXCHANGE) allows, while root runs `blit mirror -I
// --backup-dir bk` over and over, each run backing up every file of DST/d (overwritten) and the
// bait files it deletes there into bk/d. The root-only directory must stay exactly as it was:
// no backup may land in it, nothing there replaced or removed; and no old file is lost.
import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDirs } from "../helpers/index.ts";
import { blit, fillFiles, giveToNobody, NOBODY, snapshot, startSwapper } from "../trust/helpers.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

const CAN_DROP = process.getuid?.() === 0 && spawnSync("id", [NOBODY.user]).status === 0 && spawnSync("setpriv", ["--version"]).status === 0;
const BAIT = Array.from({ length: 10 }, (_, i) => `x${i}`);
const BUDGET_MS = 5_000;
const MAX_RUNS = 30;

test.skipIf(!CAN_DROP)("nobody swaps a backup directory for a symlink to a root-only directory: no backup lands there, nothing there changes (needs root, setpriv, user nobody)", async () => {
  const t = temps.make();
  chmodSync(t.path, 0o755);
  const ro = t.join("root-only");
  mkdirSync(ro, { mode: 0o700 });
  writeFileSync(join(ro, "secret"), "root-only secret\n", { mode: 0o600 });
  for (const name of [...BAIT, "pub0", "pub1"]) writeFileSync(join(ro, name), `root-only ${name}\n`);
  const before = snapshot(ro);
  const src = t.join("src");
  const dst = t.join("dst");
  fillFiles(join(src, "d"), 5, "pub");
  fillFiles(join(dst, "d"), 5, "pub");
  mkdirSync(join(dst, "bk", "d"), { recursive: true });
  giveToNobody(join(dst, "bk"));
  const swapper = startSwapper(t.path, join(dst, "bk"), "d", ro, { seconds: Math.ceil(BUDGET_MS / 1000) + 20 });
  const problems: string[] = [];
  let runs = 0;
  let exchanges = 0;
  try {
    const deadline = Date.now() + BUDGET_MS;
    while (runs < MAX_RUNS && Date.now() < deadline) {
      runs++;
      for (const name of BAIT) writeFileSync(join(dst, "d", name), `${name}: extraneous\n`);
      const r = await blit(t, ["mirror", "-I", "--backup-dir", "bk", join(src, ""), dst], { timeoutMs: 30_000 });
      if (r.exitCode !== 0 && r.exitCode !== 1) problems.push(`run ${runs}: exit ${r.exitCode}: ${r.stderr.slice(0, 300)}`);
      // An entry whose backup failed stays where it was: DST/d still holds every name, or its backup was made.
      for (const name of BAIT) {
        let here = "";
        try {
          here = readFileSync(join(dst, "d", name), "utf8");
        } catch {}
        if (here !== "" && here !== `${name}: extraneous\n`) problems.push(`run ${runs}: d/${name} holds '${here}'`);
      }
      problems.push(...before.changes().map((c) => `root-only dir: ${c}`));
      if (problems.length) break;
    }
  } finally {
    exchanges = await swapper.stop();
  }
  expect(problems.slice(0, 8)).toEqual([]);
  expect(before.changes()).toEqual([]);
  // The race was really run.
  expect(exchanges).toBeGreaterThan(1000);
  expect(runs).toBeGreaterThanOrEqual(5);
}, 60_000);

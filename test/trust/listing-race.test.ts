// Listings race-free (issue 12): while `nobody` swaps a directory of a module for a symlink to a
// root-only 0700 directory outside it (and back, as fast as renameat2(RENAME_EXCHANGE) allows),
// root's blitd is asked again and again for `blit pull --dry-run` and `blit ls` of that tree,
// through the CLI and through raw Negotiate/ListDir calls. The root-only directory holds one
// file, `secret-<random>`: no answer may ever name it (nor its size). blitd reaches module files
// only through directory fds, opening each directory with O_NOFOLLOW beneath its parent.
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { tempDirs } from "../helpers/index.ts";
import { decodeManifest } from "../../proto/index.ts";
import { rawClient, rpc } from "../remote/helpers.ts";
import { blit, fillFiles, giveToNobody, startModule, startSwapper, type Module } from "./helpers.ts";

const CAN_DROP = process.getuid?.() === 0 && spawnSync("setpriv", ["--version"]).status === 0 && spawnSync("id", ["nobody"]).status === 0;
/** How long nobody swaps (the test's bounded loop). */
const BUDGET_MS = 4_000;
/** Entries sorted after `d` that every walk stats (and excludes) between looking at `d` and entering it. */
const FILLERS = 2000;
const EXCLUDE = "zz-filler-*";

const temps = tempDirs();
afterEach(temps.cleanup);

let mod: Module;
beforeAll(async () => {
  if (!CAN_DROP) return;
  mod = await startModule();
  chmodSync(dirname(mod.path), 0o755); // nobody reaches its directory inside the module
  chmodSync(mod.path, 0o755);
});
afterAll(async () => {
  await mod?.stop();
});


test.skipIf(!CAN_DROP)("nobody swaps a module directory for a symlink to a root-only directory: no pull --dry-run or ls ever names its file (needs root, setpriv)", async () => {
  const t = temps.make();
  chmodSync(t.path, 0o755);
  // The root-only directory, outside the module: 0700 root, one file whose name is the secret.
  const secretName = `secret-${randomBytes(6).toString("hex")}`;
  const rootOnly = t.join("root-only");
  mkdirSync(rootOnly, { mode: 0o700 });
  writeFileSync(join(rootOnly, secretName), "x".repeat(12345), { mode: 0o600 });
  // race/d (nobody's, with public files) and the fillers after it.
  const id = `race-${randomBytes(3).toString("hex")}`;
  const race = join(mod.path, id);
  fillFiles(join(race, "d"), 10, "pub");
  for (let i = 0; i < FILLERS; i++) writeFileSync(join(race, `zz-filler-${i}`), "");
  giveToNobody(race);

  const seen: string[] = [];
  /** Answers a client could not use (a manifest it would refuse). */
  const broken: string[] = [];
  const names = (m: unknown, what: string): string => {
    try {
      return decodeManifest(m as never).tree.paths.join(" ");
    } catch (err) {
      broken.push(`${what}: ${(err as Error).message}`);
      return "";
    }
  };
  const note = (what: string, text: string) => {
    if (text.includes(secretName) || text.includes("12345")) seen.push(`${what}: ${text.slice(0, 300)}`);
  };
  let cliRuns = 0;
  let rpcs = 0;
  const swapper = startSwapper(t.path, race, "d", rootOnly, { seconds: Math.ceil(BUDGET_MS / 1000) + 20 });
  let exchanges = 0;
  const c = rawClient(mod.daemon.port, true);
  try {
    const deadline = Date.now() + BUDGET_MS;
    // The CLI, one run at a time: what a user sees.
    const cli = (async () => {
      for (let k = 0; Date.now() < deadline; k++) {
        const args = k % 3 === 0 ? ["ls", `${mod.url}/${id}/d`] : k % 3 === 1 ? ["pull", "--dry-run", "--exclude", EXCLUDE, `${mod.url}/${id}`, t.join(`dst-${k}`)]
          : ["pull", "--dry-run", `${mod.url}/${id}/d`, t.join(`dst-${k}`)];
        const r = await blit(t, args, { timeoutMs: 20_000 });
        note(args.join(" "), r.stdout + r.stderr);
        cliRuns++;
      }
    })();
    // Raw calls, many more of them: every manifest and listing the daemon answers.
    const raw = (async () => {
      while (Date.now() < deadline) {
        const pull = await rpc(c, "Negotiate", { direction: "pull", module: "m", path: id, options: { dry_run: true, exclude: [EXCLUDE] } }).catch((e) => e);
        if (pull?.manifest) note("Negotiate pull", names(pull.manifest, "Negotiate pull") + JSON.stringify(pull.errors ?? []));
        else note("Negotiate pull (refused)", String(pull?.details ?? pull));
        const sub = await rpc(c, "Negotiate", { direction: "pull", module: "m", path: `${id}/d`, options: { dry_run: true } }).catch((e) => e);
        if (sub?.manifest) note("Negotiate pull d", names(sub.manifest, "Negotiate pull d"));
        else note("Negotiate pull d (refused)", String(sub?.details ?? sub));
        const ls = await rpc(c, "ListDir", { module: "m", path: `${id}/d` }).catch((e) => e);
        note("ListDir d", JSON.stringify(ls?.entries ?? ls?.details ?? null));
        rpcs += 3;
      }
    })();
    await Promise.all([cli, raw]);
  } finally {
    c.close();
    exchanges = await swapper.stop();
  }
  expect({ leaks: seen.slice(0, 5), broken: broken.slice(0, 3) }).toEqual({ leaks: [], broken: [] });
  // The race was really run: the swapper kept swapping while blitd answered many times.
  expect(exchanges).toBeGreaterThan(1000);
  expect(cliRuns).toBeGreaterThanOrEqual(5);
  expect(rpcs).toBeGreaterThanOrEqual(30);
}, 60_000);

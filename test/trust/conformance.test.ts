// The conformance suite of issue 11: blit's result compared with what `rsync -aHAXS
// --numeric-ids` makes of the same awkward tree, by rsync's own dry run (`itemizeDiff` lists
// nothing when the two agree). One case per feature of the awkward tree and per command (copy,
// mirror, push --mirror, pull --mirror against a real blitd), and the whole tree at once, so
// that the report shows which features are kept. Flags blit is to have (-H, -X, -A, --specials,
// --devices) are given only where a feature needs them.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { hasTool, sh, tempDirs, type TempDir } from "../helpers/index.ts";
import { buildAwkwardTree, FEATURES, prepareAwkwardDst, type Feature } from "./awkward-tree.ts";
import { blit, outcome, startModule, type Module } from "./helpers.ts";
import { itemizeDiff, rsyncReference } from "./oracle.ts";

const temps = tempDirs();
afterEach(temps.cleanup);

let mod: Module;
beforeAll(async () => {
  mod = await startModule();
});
afterAll(async () => {
  await mod?.stop();
});

const isRoot = process.getuid?.() === 0;
// The suite's oracle is rsync itself: without it the suite is skipped (and says so).
const RSYNC = hasTool("rsync", "the rsync conformance suite", "apt-get install rsync");

type Command = "copy" | "mirror" | "push --mirror" | "pull --mirror";
/** Each local command runs against the Linux backend and the portable one (BLIT_BACKEND=portable). */
type Backend = "linux" | "portable";
const RUNS: [Command, Backend][] = [
  ["copy", "linux"], ["mirror", "linux"], ["push --mirror", "linux"], ["pull --mirror", "linux"],
  ["copy", "portable"], ["mirror", "portable"],
];
/** What the portable backend (node:fs, for systems without the Linux calls) cannot keep: xattrs and ACLs of files. */
const portableKeeps = (f: Feature) => !f.flags.some((flag) => flag === "-X" || flag === "-A");

/** Long itemize lines (the deep path) and long lists cut down to what a failure message needs. */
function short(lines: string[], max = 10): string[] {
  const cut = lines.slice(0, max).map((l) => (l.length > 240 ? `${l.slice(0, 120)}...${l.slice(-100)}` : l));
  return lines.length > max ? [...cut, `... and ${lines.length - max} more`] : cut;
}

let caseNo = 0;

/**
 * Builds the features into a source (inside the module for a pull), runs rsync into a reference
 * DST and blit into its own (inside the module for a push), both prepared alike, and returns what
 * a user would compare: blit's outcome, rsync's itemized differences, and the features' checks.
 */
async function runBoth(t: TempDir, cmd: Command, features: Feature[], viaLink: boolean, backend: Backend = "linux") {
  const id = `conf-${++caseNo}`;
  const src = cmd === "pull --mirror" ? join(mod.path, `${id}-src`) : t.join("src");
  mkdirSync(src, { recursive: true });
  buildAwkwardTree(src, features);
  const ref = t.join("rsync");
  const got = cmd === "push --mirror" ? join(mod.path, id) : t.join("blit");
  if (features.some((f) => f.prepareDst)) {
    prepareAwkwardDst(ref, features);
    prepareAwkwardDst(got, features);
  }
  rsyncReference(src, ref, { delete: cmd !== "copy" });

  // A link beside the source, so that the link itself is inside the module for a pull.
  const link = `${src}-link`;
  if (viaLink) symlinkSync(basename(src), link);
  const srcArg = viaLink ? link : src;
  const flags = [...new Set(features.flatMap((f) => f.flags))];
  const args =
    cmd === "copy" || cmd === "mirror" ? [cmd, srcArg, got]
    : cmd === "push --mirror" ? ["push", srcArg, `${mod.url}/${id}`, "--mirror"]
    : ["pull", `${mod.url}/${viaLink ? `${id}-src-link` : `${id}-src`}`, got, "--mirror"];
  const r = await blit(t, [...args, ...flags, "--json"], { timeoutMs: 120_000, env: backend === "portable" ? { BLIT_BACKEND: "portable" } : {} });
  // A mirror's result is what `blit check` calls equal, as rsync's own dry run does.
  const checked = cmd === "copy" ? undefined : await blit(t, ["check", srcArg, got, "--json"]);
  return {
    outcome: outcome(r),
    itemized: short(itemizeDiff(ref, got)),
    checks: features.flatMap((f) => f.check?.(join(ref, f.slug), join(got, f.slug)) ?? []),
    blitCheck: checked ? { exit: checked.exitCode, differs: (checked.json?.differs ?? []).length, missing: (checked.json?.missing ?? []).length, extra: (checked.json?.extra ?? []).length } : "not run for copy",
  };
}

const AGREES = { outcome: { exit: 0, errorCount: 0, errors: [], stderr: "" }, itemized: [], checks: [] };
const agrees = (cmd: Command) => ({ ...AGREES, blitCheck: cmd === "copy" ? "not run for copy" : { exit: 0, differs: 0, missing: 0, extra: 0 } });

for (const [cmd, backend] of RUNS) {
  describe.skipIf(!RSYNC)(`blit ${cmd}${backend === "portable" ? " (portable backend)" : ""} keeps what rsync -aHAXS --numeric-ids keeps`, () => {
    const features = FEATURES.filter((f) => (cmd !== "copy" || !f.mirrorOnly) && (backend === "linux" || portableKeeps(f)));
    test.each(features.map((f) => [f.name, f] as const))("%s", async (_name, f) => {
      if (f.needsRoot && !isRoot) return void console.warn(`skipped: '${f.name}' needs root`);
      const t = temps.make();
      expect(await runBoth(t, cmd, [f], !!f.srcViaLink, backend)).toEqual(agrees(cmd));
    }, 120_000);

    test("the whole awkward tree at once", async () => {
      const t = temps.make();
      const all = features.filter((f) => !f.srcViaLink && (isRoot || !f.needsRoot));
      expect(await runBoth(t, cmd, all, false, backend)).toEqual(agrees(cmd));
    }, 180_000);
  });
}

describe.skipIf(!RSYNC)("the oracle", () => {
  test.each(FEATURES.filter((f) => isRoot || !f.needsRoot).map((f) => [f.name, f] as const))("agrees with itself: %s", (_name, f) => {
    const t = temps.make();
    buildAwkwardTree(t.join("src"), [f]);
    for (const dst of ["one", "two"]) {
      prepareAwkwardDst(t.join(dst), [f]);
      rsyncReference(t.join("src"), t.join(dst), { delete: true });
    }
    expect(itemizeDiff(t.join("one"), t.join("two"))).toEqual([]);
    expect(f.check?.(t.join("one", f.slug), t.join("two", f.slug)) ?? []).toEqual([]);
  });

  test("sees a changed byte, mode, mtime, owner, xattr, ACL, a broken hard link and an extra file", () => {
    const t = temps.make();
    const build = (root: string) => {
      mkdirSync(root);
      for (const name of ["content", "mode", "mtime", "owner", "xattr", "acl", "link-a"]) writeFileSync(join(root, name), "same\n");
      sh("ln", [join(root, "link-a"), join(root, "link-b")]);
      sh("touch", ["-d", "2020-01-01", ...["content", "mode", "mtime", "owner", "xattr", "acl", "link-a"].map((n) => join(root, n))]);
    };
    build(t.join("a"));
    sh("rsync", ["-aHAXS", "--numeric-ids", `${t.join("a")}/`, `${t.join("b")}/`]);
    expect(itemizeDiff(t.join("a"), t.join("b"))).toEqual([]);
    const b = (n: string) => t.join("b", n);
    writeFileSync(b("content"), "SAME\n");
    sh("touch", ["-d", "2020-01-01", b("content")]);
    sh("chmod", ["600", b("mode")]);
    sh("touch", ["-d", "2021-01-01", b("mtime")]);
    if (isRoot) sh("chown", ["nobody", b("owner")]);
    sh("setfattr", ["-n", "user.x", "-v", "1", b("xattr")]);
    sh("setfacl", ["-m", "u:nobody:r", b("acl")]);
    sh("cp", ["-p", b("link-a"), b("link-b.tmp")]);
    sh("mv", [b("link-b.tmp"), b("link-b")]);
    writeFileSync(b("extra"), "extra\n");
    // "YXcstpoguax name" or "hf      name => link target": the name follows the 11 flags.
    // The root's own line ("./") depends on whether the edits above moved b's mtime within the clock's tick.
    const names = itemizeDiff(t.join("a"), t.join("b")).map((l) => l.slice(12).split(" => ")[0]).filter((n) => n !== "./");
    expect(names.sort()).toEqual(["acl", "content", "extra", "link-b", "mode", "mtime", ...(isRoot ? ["owner"] : []), "xattr"].sort());
  });
});

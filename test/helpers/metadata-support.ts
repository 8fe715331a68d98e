// What the filesystem of os.tmpdir() and this process support, probed once, so that metadata
// tests skip (counted as skipped, with the reason printed) instead of failing where they cannot run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function probe(cmd: string, args: (file: string) => string[]): boolean {
  const dir = mkdtempSync(join(tmpdir(), "blit-test-probe-"));
  try {
    const f = join(dir, "f");
    writeFileSync(f, "");
    const r = spawnSync(cmd, args(f), { encoding: "utf8" });
    return !r.error && r.status === 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const tools = (...names: string[]) => names.every((n) => spawnSync("sh", ["-c", `command -v ${n}`]).status === 0);

// Probed on first use only: most suites import the helpers without needing these.
let xattrsOk: boolean | undefined;
let aclsOk: boolean | undefined;

/** user.* attributes can be set on a file in os.tmpdir() (setfattr/getfattr installed). */
export function userXattrs(): boolean {
  return (xattrsOk ??= tools("setfattr", "getfattr") && probe("setfattr", (f) => ["-n", "user.blit-probe", "-v", "1", f]));
}

/** POSIX ACLs can be set on a file in os.tmpdir() (setfacl/getfacl installed). */
export function posixAcls(): boolean {
  return (aclsOk ??= tools("setfacl", "getfacl") && probe("setfacl", (f) => ["-m", "u:65534:r", f]));
}

export const isRoot = process.geteuid?.() === 0;

/** Prints why a group of tests is skipped (bun counts them as skipped). */
export function skipNote(skip: boolean, what: string, why: string): boolean {
  if (skip) console.warn(`skipped: ${what}: ${why}`);
  return skip;
}

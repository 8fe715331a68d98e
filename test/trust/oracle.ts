// rsync as the oracle of the conformance suite (issue 11): what `rsync -aHAXS --numeric-ids`
// makes of a tree is the reference, and rsync's own dry run says how another copy differs from it.
import { spawnSync } from "node:child_process";

/** rsync's archive flags: everything a copy should keep (hard links, ACLs, xattrs, sparseness, owners by number). */
const ARCHIVE = ["-aHAXS", "--numeric-ids"];

/**
 * How `b` differs from `a`, as rsync's itemized changes of a dry run that would make `b` equal to
 * `a` (content compared by checksum, extraneous entries of `b` listed as `*deleting`). [] means
 * the trees are equal in everything `rsync -aHAXS --numeric-ids` keeps. A failing rsync adds a
 * last line with its exit code and stderr, so a caller's expectation fails with the reason.
 */
export function itemizeDiff(a: string, b: string): string[] {
  const r = spawnSync("rsync", ["-n", ...ARCHIVE, "--delete", "-i", "--checksum", `${a}/`, `${b}/`], { maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  const lines = r.stdout.toString("utf8").split("\n").filter((l) => l !== "");
  if (r.status !== 0) lines.push(`rsync exited ${r.status}: ${r.stderr.toString("utf8").trim()}`);
  return lines;
}

/**
 * The reference copy: `rsync -aHAXS --numeric-ids src/ dst/`, with `--delete` for a mirror.
 * Throws when rsync reports any error (the oracle itself must be complete).
 */
export function rsyncReference(src: string, dst: string, opts: { delete: boolean }): void {
  const args = [...ARCHIVE, ...(opts.delete ? ["--delete"] : []), `${src}/`, `${dst}/`];
  const r = spawnSync("rsync", args, { maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`rsync ${args.join(" ")} exited ${r.status}: ${r.stderr.toString("utf8")}`);
}

// "The exact command line to try": the run's own command, paths and settings, with a
// suggestion's flag applied (a repeatable flag is added, any other replaces the run's value).
// Built here from the run's report, never from the model's text, so redacted paths never leak
// into it and an unknown flag never reaches it.
import { normalizeOptions, type RunReport } from "../../engine/index.ts";
import { transferFlag } from "../transfer-flags.ts";

/** The command that repeats `report`'s run with `flag` ("--workers 8") applied; the run as it was without one. */
export function tryCommand(report: Pick<RunReport, "command" | "route" | "source" | "destination" | "options">, flag?: string): string {
  const o = report.options;
  const args: string[][] = [];
  // The rules in their order: as --exclude while they are all excludes, else each as --filter
  // (a merge file's rules were read into them; --files-from is not repeated).
  const rules = o.filter?.length ? o.filter : (o.exclude ?? []).map((p) => `- ${p}`);
  if (rules.every((r) => r.startsWith("- "))) for (const r of rules) args.push(["--exclude", r.slice(2)]);
  else for (const r of rules) args.push(["--filter", r.startsWith(": ") ? `dir-merge ${r.slice(2)}` : r]);
  if (o.checksum) args.push(["--checksum"]);
  if (o.sizeOnly) args.push(["--size-only"]);
  if (o.ignoreTimes) args.push(["--ignore-times"]);
  if (o.workers !== normalizeOptions({}).workers) args.push(["--workers", String(o.workers)]);
  if (o.bwlimit > 0) args.push(["--bwlimit", String(o.bwlimit)]);
  if (o.maxDelete >= 0) args.push(["--max-delete", String(o.maxDelete)]);
  if (o.xattrs) args.push(["--xattrs"]);
  if (o.acls) args.push(["--acls"]);
  // Reports from before these options lack them (undefined): nothing to repeat.
  if (o.owner === false && normalizeOptions({}).owner) args.push(["--no-owner"]);
  if (o.group === false && normalizeOptions({}).group) args.push(["--no-group"]);
  // A suggested re-run must keep what the run kept: a mirror without them would lose the backups.
  if (o.backupDir !== undefined) args.push(["--backup-dir", o.backupDir], ...(o.suffix ? [["--suffix", o.suffix]] : []));
  else if (o.backup) args.push(["--backup"], ...(o.suffix !== undefined && o.suffix !== "~" ? [["--suffix", o.suffix]] : []));
  if (flag) {
    const tokens = flag.trim().split(/\s+/);
    const [name, inline] = tokens[0]!.split("=", 2) as [string, string | undefined];
    const spec = transferFlag(name);
    const value = inline ?? (spec?.value ? tokens[1] : undefined);
    const long = spec?.name ?? name;
    if (!spec?.repeatable) {
      for (let i = args.length - 1; i >= 0; i--) if (transferFlag(args[i]![0]!)?.name === long) args.splice(i, 1);
    }
    args.push(value === undefined ? [long] : [long, value]);
  }
  const head = report.route === "push" || report.route === "pull"
    ? ["blit", report.route, report.source, report.destination, ...(report.command === "mirror" ? ["--mirror"] : [])]
    : ["blit", report.command, report.source, report.destination];
  return [...head, ...args.flat()].map(quote).join(" ");
}

/** POSIX shell quoting: bare when safe, else single quotes. */
export function quote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

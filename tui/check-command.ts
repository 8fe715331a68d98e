// blit check SRC DST: parse flags, compare (engine check), print the differences, map the
// outcome to an exit code (tui/exit-codes.ts). The flags are one table, from which both the
// parser's options and the --help text are made.
import { parseArgs } from "node:util";
import { helpLines, parseSpec, type Flag } from "./kit/flag.ts";
import { check, refusedCheck, type CheckEntry, type CheckJob, type CheckResult } from "../engine/index.ts";
import { EXIT_OK, exitCodeForCheck } from "./exit-codes.ts";
import { count, countOf, escapePath } from "./format.ts";
import { joinSelectValues, selectionOf } from "./select-flags.ts";
import { tlsOptions } from "./tls-flags.ts";
import { parseRetries, parseTimeout, readToken, RETRIES_FLAG, sayReadRetry } from "./remote-command.ts";
import type { Io } from "./kit/io.ts";

/** The kit's one Io (tui/kit/io.ts). */
export type CheckIo = Io;

export const CHECK_FLAGS: readonly Flag<"check">[] = [
  {
    commands: ["check"], name: "--checksum", short: "-c",
    help: "compare files of equal size by content hash (BLAKE2b-256) instead of mtime, as 'blit copy --checksum' decides; both sides must be local (exit 2 with a blit:// side)",
  },
  {
    commands: ["check"], name: "--exclude", repeatable: true, value: "PATTERN",
    help: "leave out matching entries on both sides (repeatable; same rules as 'blit copy')",
  },
  { commands: ["check"], name: "--include", repeatable: true, value: "PATTERN", help: "keep matching entries a later --exclude would leave out (repeatable)" },
  { commands: ["check"], name: "--exclude-from", repeatable: true, value: "FILE", help: "each line of FILE as an --exclude ('#' and ';' comments; '-' is stdin)" },
  { commands: ["check"], name: "--include-from", repeatable: true, value: "FILE", help: "each line of FILE as an --include" },
  {
    commands: ["check"], name: "--filter", repeatable: true, value: "RULE",
    help: "'+ PAT', '- PAT', 'merge FILE', 'dir-merge NAME', as for 'blit copy' (in order with the flags above)",
  },
  {
    commands: ["check"], name: "--xattrs", short: "-X",
    help: "compare extended attributes too (user.*; trusted.* and security.* between local trees when readable), as 'blit copy -X' keeps them",
  },
  { commands: ["check"], name: "--acls", short: "-A", help: "compare POSIX ACLs too, as 'blit copy -A' keeps them" },
  {
    commands: ["check"], name: "--auth-token-file", value: "FILE",
    help: "the daemon's auth token for a blit:// side (env BLIT_AUTH_TOKEN holds the token itself)",
  },
  { commands: ["check"], name: "--tls-ca", value: "FILE", help: "a blits:// side: trust the daemon's certificate if this CA (PEM) signed it for the URL's host (instead of pinning)" },
  { commands: ["check"], name: "--tls-fingerprint", value: "SHA256:...", help: "a blits:// side: the daemon's key must have this fingerprint; it is recorded in $BLIT_HOME/known_daemons" },
  { commands: ["check"], name: "--tls-accept-new", help: "a blits:// side: trust a daemon not yet in known_daemons on first use and record its key" },
  {
    commands: ["check"], name: "--timeout", value: "SECONDS",
    help: "with a blit:// side: give up when the daemon does not answer for SECONDS (default 60; 0 waits forever)",
  },
  RETRIES_FLAG("check"),
  { commands: ["check"], name: "--json", help: "print one JSON object on stdout: the missing, extra and differing entries, counts, errors" },
  { commands: ["check"], name: "--help", short: "-h", help: "this help" },
];

const PARSE_OPTIONS = parseSpec(CHECK_FLAGS);

export const CHECK_HELP = `blit check SRC DST [flags]

Compare two directories and change neither; either may be blit://HOST:PORT/MODULE[/PATH] (a
blitd module, read-only ones included; IPv6 hosts are written [::1]). One line per difference:

  missing  PATH               in SRC, not in DST
  extra    PATH               in DST, not in SRC
  differs  PATH (REASONS)     on both sides, not equal

then the summary "N missing, N extra, N differ; M entries equal". Reasons:
  content   the bytes differ: sizes differ, or --checksum hashed both files
  size      files of different sizes
  mtime     modification times more than 1 µs apart (files without --checksum; directories)
  mode      permission bits (files and directories)
  type      one kind of entry in SRC, another in DST ("type: file in SRC, directory in DST")
  target    symlinks pointing at different targets
  owner     another owner or group (where both sides carry owners)
  links     hard links that differ: files that are one inode on one side and not on the other
  xattrs    extended attributes differ (names or values; with -X)
  acls      POSIX ACLs differ (with -A)
A file counts as equal by the rule 'blit copy' uses to skip it (same size and mtime, or same
content with --checksum), so a check right after 'blit mirror' finds the trees equal (a file
whose mode alone changed keeps its content and gets the new mode). The roots themselves are not compared; a symlink named as SRC or DST is followed,
nothing below it is.
Control characters in paths are shown escaped (\\x0a, and \\\\ for a backslash); --json gives
paths exactly.

Flags:
${helpLines(CHECK_FLAGS, "check")}

Exit codes:
  0    the trees are equal
  1    they differ (each difference is listed)
  2    something could not be compared (named on stderr): bad flags, SRC or DST missing, not a
       directory or unreadable, an entry that could not be read, --checksum with a blit://
       side, "cannot reach HOST:PORT", "auth token rejected", "module 'x' not found"
`;

function reasonText(e: CheckEntry): string {
  return e.reasons.map((r) => (r === "type" ? `type: ${e.type} in SRC, ${e.dstType} in DST` : r)).join(", ");
}

/** The line a person reads for one difference. */
export function entryLine(e: CheckEntry): string {
  const path = escapePath(e.path);
  return e.kind === "differs" ? `differs  ${path} (${reasonText(e)})` : `${e.kind.padEnd(7)}  ${path}`;
}

export function checkSummary(r: CheckResult): string {
  const c = r.counts;
  let s = `${count(c.missing)} missing, ${count(c.extra)} extra, ${count(c.differs)} differ; ${count(c.equal)} entr${c.equal === 1 ? "y" : "ies"} equal`;
  if (c.hashed) s += ` (${count(c.hashed)} file${c.hashed === 1 ? "" : "s"} compared by content)`;
  if (r.errorCount) s += `; ${count(r.errorCount)} error${r.errorCount === 1 ? "" : "s"} (listed on stderr)`;
  return s;
}

/** What --json prints: the result with its entries split into the three lists. */
export function checkJson(r: CheckResult): Record<string, unknown> {
  const { entries, ...rest } = r;
  const pick = (kind: CheckEntry["kind"]) => entries.filter((e) => e.kind === kind).map(({ kind: _k, ...e }) => e);
  return { ...rest, exitCode: exitCodeForCheck(r.status), missing: pick("missing"), extra: pick("extra"), differs: pick("differs") };
}

export async function checkCommand(args: string[], io: CheckIo): Promise<number> {
  const say = (s: string) => io.stdout.write(s.endsWith("\n") ? s : s + "\n");
  const err = (s: string) => io.stderr.write(`blit: ${s}\n`);
  const { values, positionals, tokens } = parseArgs({ args: joinSelectValues(args), allowPositionals: true, strict: true, tokens: true, options: PARSE_OPTIONS });
  const flag = <T>(name: string) => values[name] as T | undefined;
  if (flag<boolean>("help")) {
    say(CHECK_HELP);
    return EXIT_OK;
  }
  const job: CheckJob = {
    source: positionals[0] ?? "",
    destination: positionals[1] ?? "",
    options: {
      checksum: flag<boolean>("checksum") ?? false, exclude: flag<string[]>("exclude") ?? [],
      xattrs: flag<boolean>("xattrs") ?? false, acls: flag<boolean>("acls") ?? false,
    },
  };
  let result: CheckResult;
  if (positionals.length !== 2) {
    result = refusedCheck(job, { code: "USAGE", message: `check needs SRC and DST (got ${positionals.length} argument${positionals.length === 1 ? "" : "s"}); run 'blit check --help'` });
  } else {
    try {
      job.options!.authToken = readToken(flag<string>("auth-token-file"), io.env);
      job.options!.tls = tlsOptions({ "tls-ca": flag("tls-ca"), "tls-fingerprint": flag("tls-fingerprint"), "tls-accept-new": flag("tls-accept-new") }, io.env);
      job.options!.timeout = parseTimeout(flag<string>("timeout"));
      job.options!.retries = parseRetries(flag<string>("retries"));
      job.options!.onRetry = (r) => sayReadRetry(io, "check", r);
      job.options!.filter = selectionOf(tokens).filter;
      result = await check(job);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (!code) throw e;
      result = refusedCheck(job, { code, message: (e as Error).message });
    }
  }
  const shown = result.errors.slice(0, 50);
  for (const e of shown) err(e.side === "run" ? e.message : `error: ${e.side} ${escapePath(e.path)}: ${e.message} [${e.code}]`);
  if (result.errorCount > shown.length) err(`… and ${countOf(result.errorCount - shown.length, "more error")} (the first 1,000 are in --json)`);
  if (flag<boolean>("json")) say(JSON.stringify(checkJson(result)));
  else {
    const lines = result.entries.map(entryLine);
    if (lines.length) say(lines.join("\n"));
    if (result.status !== "error" || result.counts.equal + result.entries.length > 0) say(checkSummary(result));
  }
  return exitCodeForCheck(result.status);
}

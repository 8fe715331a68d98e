// The flags of blit's transfer commands (copy, mirror, push, pull), as data: the one table from
// which each command's parser (tui/kit/command.ts), its --help and the README's flag tables
// (`npm run docs:flags`) are made, and the list the diagnose UI and the LLM explainer check
// suggestions against. test/kit/flags.test.ts holds README and --help to it.
import { parseSpec, type Flag } from "./kit/flag.ts";

export type TransferCommand = "copy" | "mirror" | "push" | "pull";

export type TransferFlag = Flag<TransferCommand>;

const ALL: readonly TransferCommand[] = ["copy", "mirror", "push", "pull"];
const LOCAL: readonly TransferCommand[] = ["copy", "mirror"];
const REMOTE: readonly TransferCommand[] = ["push", "pull"];
const remote = (text: string): Partial<Record<TransferCommand, string>> => ({ push: text, pull: text });

export const TRANSFER_FLAGS: readonly TransferFlag[] = [
  {
    name: "--mirror", commands: REMOTE,
    help: "delete on the receiving side what the source lacks (after a complete, error-free transfer only; see --max-delete, --force)",
  },
  {
    name: "--force-grpc", commands: REMOTE,
    help: "carry file data inside the gRPC connection instead of a separate TCP data connection (for networks that only let the gRPC port through)",
  },
  { name: "--dry-run", short: "-n", commands: ALL, help: "print the plan (what would be copied, created, deleted); change nothing; the run is recorded as a dry run" },
  {
    name: "--checksum", short: "-c", commands: ALL,
    help: "compare files of equal size by content hash (BLAKE2b-256), not mtime",
    helpFor: remote("compare files of equal size by content hash (BLAKE2b-256), and verify each file's hash after the transfer"),
  },
  { name: "--size-only", commands: ALL, help: "treat files of equal size as unchanged, whatever their mtime" },
  { name: "--ignore-times", short: "-I", commands: ALL, help: "copy every file, even when size and mtime match" },
  // Selection rules, rsync's (engine/select): one ordered list, first match wins; they travel to blitd.
  {
    name: "--exclude", value: "PATTERN", repeatable: true, commands: ALL,
    help: "leave out matching entries (repeatable; selection rules below)",
    helpFor: remote("leave out matching entries (repeatable; same rules as 'blit copy')"),
  },
  { name: "--include", value: "PATTERN", repeatable: true, commands: ALL, help: "keep matching entries a later --exclude would leave out (repeatable)" },
  {
    name: "--exclude-from", value: "FILE", repeatable: true, commands: ALL,
    help: "each line of FILE as an --exclude ('#' and ';' comments and blank lines skipped; '-' reads stdin; a line '+ PAT' is an include)",
  },
  { name: "--include-from", value: "FILE", repeatable: true, commands: ALL, help: "each line of FILE as an --include (same format)" },
  {
    name: "--filter", value: "RULE", repeatable: true, commands: ALL,
    help: "one rule (repeatable): '+ PAT' or 'include PAT', '- PAT' or 'exclude PAT', 'merge FILE' or '. FILE' (the rules of FILE, one a line), 'dir-merge NAME' or ': NAME' (the rules of the file NAME in each directory, read as the walk enters it: they apply there and below, before the rules inherited from above; a NAME that is a symlink is never read, and that directory is left out with an error)",
    helpFor: remote("one rule (repeatable): '+ PAT', '- PAT', 'dir-merge NAME' (read on the sending side, and on the receiving side for a mirror's deletes), as for 'blit copy'; rules beyond --exclude need a blitd of this version"),
  },
  // Local only: a list of paths below SRC (mirror takes it only to refuse it with the reason),
  // and deletes of what the rules leave out.
  {
    name: "--files-from", value: "FILE", commands: LOCAL,
    help: "transfer only the paths listed in FILE, one a line, relative to SRC ('-' reads stdin); the directories on the way are created, a listed directory comes with everything below it, a listed path that is missing is an error naming it. Copy only, one source (a mirror refuses it: everything unlisted would be deleted)",
  },
  { name: "--delete-excluded", commands: ["mirror"], help: "delete excluded destination entries too (by default a mirror keeps what the rules leave out)" },
  {
    name: "--hard-links", short: "-H", commands: ALL,
    help: "files that are hard links of each other in SRC stay hard links in DST (the first is copied, the others are linked to it)",
    helpFor: remote("files that are hard links of each other stay hard links on the receiving side (each inode's data travels once)"),
  },
  {
    name: "--xattrs", short: "-X", commands: ALL,
    help: "keep extended attributes: user.*, and as root also trusted.* and security.*; a file left in place gets the source's set too",
    helpFor: remote("keep extended attributes: user.*, and trusted.* and security.* where both sides may (root; for a push, a module with keep_owners = true)"),
  },
  { name: "--acls", short: "-A", commands: ALL, help: "keep POSIX ACLs (also on files left in place)" },
  {
    name: "--no-owner", commands: ALL,
    help: "do not give copies the source's owner (kept by default when running as root, as rsync -a does; another user's copies are owned by that user)",
    helpFor: remote("do not give the receiving side's entries the source's owner (kept by default: a push asks blitd, which keeps them only as root in a module with keep_owners = true; a pull keeps them when blit runs as root)"),
  },
  { name: "--no-group", commands: ALL, help: "do not give copies the source's group (kept like owners)" },
  // Owners travel between hosts: by name unless --numeric-ids.
  {
    name: "--numeric-ids", commands: REMOTE,
    help: "owners and groups travel as numbers; without it each id is given the receiving side's id of the same user or group name (the number when the name is unknown there), as rsync does",
  },
  { name: "--specials", commands: ALL, help: "create FIFOs and sockets like the source's (otherwise they are skipped, and the summary counts them by kind)" },
  {
    name: "--devices", commands: ALL,
    help: "create device nodes like the source's (needs root; otherwise skipped and counted)",
    helpFor: remote("create device nodes like the source's (root; for a push, a module with keep_owners = true; otherwise skipped and counted)"),
  },
  // push and pull move data over one connection; blitd and the pulling client write received
  // small files with BLIT_SHARD_WRITERS threads
  { name: "--workers", short: "-w", value: "N", commands: LOCAL, help: "copy with N worker threads; env BLIT_WORKERS", default: "2 per CPU core, 2 to 16" },
  {
    name: "--bwlimit", value: "RATE", commands: ALL,
    help: "limit the transfer to RATE bytes per second: 500K, 50M, 1G (K, M, G are powers of 1024; 0 = no limit)",
    helpFor: remote("send file data at most RATE bytes per second: 500K, 50M, 1G (K, M, G are 1024-based, as in rsync); the sending side paces itself (blitd for a pull)"),
  },
  {
    name: "--max-delete", value: "N", commands: ["mirror", "push", "pull"],
    help: "if more than N entries would be deleted or replaced, delete and replace none and exit 1",
    helpFor: remote("with --mirror: if more than N entries would be deleted, delete none (exit 1)"),
  },
  {
    name: "--force", commands: ["mirror", "push", "pull"],
    help: "allow a mirror from an empty SRC to empty DST",
    helpFor: remote("with --mirror: allow a mirror from an empty source"),
  },
  { name: "--auth-token-file", value: "FILE", commands: REMOTE, help: "the daemon's auth token (env BLIT_AUTH_TOKEN holds the token itself)" },
  // blits:// daemons: verify by a CA, or pin the key (tui/tls-flags.ts)
  { name: "--tls-ca", value: "FILE", commands: REMOTE, help: "blits://: trust the daemon's certificate if this CA (PEM) signed it for the URL's host and it is within its dates (instead of pinning)" },
  {
    name: "--tls-fingerprint", value: "SHA256:...", commands: REMOTE,
    help: "blits://: the daemon's key must have this fingerprint (blitd logs it at start); it is then recorded in $BLIT_HOME/known_daemons",
  },
  { name: "--tls-accept-new", commands: REMOTE, help: "blits://: trust a daemon not yet in known_daemons on first use and record its key; a recorded key that changes is always refused" },
  {
    name: "--timeout", value: "SECONDS", commands: REMOTE,
    help: "give up when the daemon shows no progress for SECONDS in any phase (connect, negotiate, data, the daemon's confirmation, complete): exit 2 naming the daemon and the phase, nothing partial kept; connecting gives up after 10 s at most",
    default: "60; 0 waits forever",
  },
  {
    name: "--retries", value: "N", commands: REMOTE,
    help: "after a dropped connection, a restarted daemon or a --timeout stall, connect again and run the transfer again up to N times (waiting 0.5 s, 1 s, 2 s ... up to 30 s); what already arrived is skipped. A rejected token, a missing or read-only module, a bad URL or a TLS key mismatch fail at once",
    default: "3; 0 fails at the first loss",
  },
  {
    name: "--whole-file", short: "-W", commands: REMOTE,
    help: "send changed files whole, never as changes against the receiver's older version (a file an interrupted transfer left part of still resumes from it)",
  },
  {
    name: "--no-whole-file", commands: REMOTE,
    help: "send a changed file as the blocks that differ from the receiver's older version even to a daemon on this machine's loopback, where whole files are the default unless --bwlimit is set",
    default: "delta, except on loopback without --bwlimit",
  },
  // What a copy overwrites or a mirror deletes is kept (rsync's --backup family); local runs only.
  {
    name: "--backup", short: "-b", commands: LOCAL,
    help: "keep what the run overwrites (and a mirror replaces or deletes) as NAME~ beside it; a mirror then never deletes names ending in the suffix",
  },
  {
    name: "--backup-dir", value: "DIR", commands: LOCAL,
    help: "keep them in DIR instead, under their path relative to DST (this implies --backup; DIR is relative to DST unless absolute, on DST's filesystem; a DIR inside DST is neither copied into nor deleted; 0700)",
  },
  { name: "--suffix", value: "S", commands: LOCAL, help: "the backups' suffix (implies --backup)", default: "'~'; '' with a backup directory" },
  // Per-entry records with the planner's reason; local runs only.
  {
    name: "--itemize-changes", short: "-i", commands: LOCAL,
    help: "list every change in rsync's format: '>f+++++++++ new', '>f.st...... changed', 'cd+++++++++ dir/', '.f...p..... mode', '*deleting   gone' (YXcstpoguax as in rsync(1))",
  },
  {
    name: "--log-file", value: "FILE", commands: LOCAL,
    help: "append a line per action (timestamp with its zone, the itemized change, the reason) between a start line and an end line with the totals; a symlink or non-regular FILE is refused; a new FILE is made 0600",
  },
  {
    name: "--json-lines", commands: LOCAL,
    help: "print one JSON object per entry event on stdout ({\"event\": \"copy\", \"mkdir\", \"link\", \"meta\", \"delete\", \"backup\" or \"error\", \"path\", \"reason\", \"bytes\", \"itemize\", ...}), then the run report as the last line",
  },
  { name: "--stats", commands: LOCAL, help: "print rsync-like totals after the summary" },
  { name: "--progress", commands: ALL, help: "show progress on stderr (default when stderr is a terminal): files, bytes, rate, ETA and the file in flight, cut to the terminal's width; elsewhere a line every second" },
  { name: "--no-progress", commands: ALL, help: "no progress display" },
  { name: "--json", commands: ALL, help: "print one JSON object (the run report) on stdout, for scripts" },
  {
    name: "--verbose", short: "-v", commands: ALL,
    help: "list every action as it is done, with its reason (new, size, time, checksum, perms, owner, group, always), and the fast-path notes",
    helpFor: remote("list every action taken and the transport notes"),
  },
  { name: "--no-telemetry", commands: ALL, help: "do not record this run (env BLIT_TELEMETRY=off does the same)" },
  { name: "--help", short: "-h", commands: ALL, help: "this help" },
];

/** The flags `command` takes, in table order. */
export function transferFlagsOf(command: TransferCommand): TransferFlag[] {
  return TRANSFER_FLAGS.filter((f) => f.commands.includes(command));
}

/** Every spelling of the flags `command` accepts (all transfer commands when left out): "--workers", "-w", ... */
export function transferFlagNames(command?: TransferCommand): string[] {
  return TRANSFER_FLAGS.filter((f) => command === undefined || f.commands.includes(command)).flatMap((f) => (f.short ? [f.name, f.short] : [f.name]));
}

/** The flag `token` names ("--workers=8" and "-w" included), or undefined. */
export function transferFlag(token: string): TransferFlag | undefined {
  const name = token.split("=")[0]!;
  return TRANSFER_FLAGS.find((f) => f.name === name || f.short === name);
}

/** The parseArgs options every transfer command takes (each command's own come from transferFlagsOf). */
export const COMMON_TRANSFER_OPTIONS = parseSpec(TRANSFER_FLAGS.filter((f) => ALL.every((c) => f.commands.includes(c))));

// The flags of blit's transfer commands (copy, mirror, push, pull), as data: the one list the
// diagnose UI and the LLM explainer check suggestions against. test/ai/transfer-flags.test.ts
// holds it to the commands' own --help, so it cannot drift from what blit accepts.

export type TransferCommand = "copy" | "mirror" | "push" | "pull";

export interface TransferFlag {
  /** "--workers". */
  name: string;
  /** "-w". */
  short?: string;
  /** The value's placeholder in help ("N", "RATE"); absent for a switch. */
  value?: string;
  /** May be given more than once (--exclude). */
  repeatable?: boolean;
  commands: readonly TransferCommand[];
}

const ALL: readonly TransferCommand[] = ["copy", "mirror", "push", "pull"];
const REMOTE: readonly TransferCommand[] = ["push", "pull"];

export const TRANSFER_FLAGS: readonly TransferFlag[] = [
  { name: "--dry-run", short: "-n", commands: ALL },
  { name: "--checksum", short: "-c", commands: ALL },
  { name: "--size-only", commands: ALL },
  { name: "--ignore-times", short: "-I", commands: ALL },
  { name: "--exclude", value: "GLOB", repeatable: true, commands: ALL },
  { name: "--hard-links", short: "-H", commands: ALL },
  // push and pull move data over one connection; blitd and the pulling client write received
  // small files with BLIT_SHARD_WRITERS threads
  { name: "--workers", short: "-w", value: "N", commands: ["copy", "mirror"] },
  { name: "--bwlimit", value: "RATE", commands: ALL },
  // What a copy keeps beyond content, mode and mtime (push and pull carry it in the manifest).
  { name: "--xattrs", short: "-X", commands: ALL },
  { name: "--acls", short: "-A", commands: ALL },
  { name: "--no-owner", commands: ALL },
  { name: "--specials", commands: ALL },
  { name: "--devices", commands: ALL },
  { name: "--no-group", commands: ALL },
  // Owners travel between hosts: by name unless --numeric-ids.
  { name: "--numeric-ids", commands: REMOTE },
  { name: "--max-delete", value: "N", commands: ["mirror", "push", "pull"] },
  { name: "--force", commands: ["mirror", "push", "pull"] },
  { name: "--mirror", commands: REMOTE },
  { name: "--force-grpc", commands: REMOTE },
  { name: "--auth-token-file", value: "FILE", commands: REMOTE },
  // blits:// daemons: verify by a CA, or pin the key (tui/tls-flags.ts)
  { name: "--tls-ca", value: "FILE", commands: REMOTE },
  { name: "--tls-fingerprint", value: "SHA256:...", commands: REMOTE },
  { name: "--tls-accept-new", commands: REMOTE },
  { name: "--timeout", value: "SECONDS", commands: REMOTE },
  // What a copy overwrites or a mirror deletes is kept (rsync's --backup family); local runs only.
  { name: "--backup", short: "-b", commands: ["copy", "mirror"] },
  { name: "--backup-dir", value: "DIR", commands: ["copy", "mirror"] },
  { name: "--suffix", value: "S", commands: ["copy", "mirror"] },
  // Per-entry records with the planner's reason; local runs only.
  { name: "--itemize-changes", short: "-i", commands: ["copy", "mirror"] },
  { name: "--log-file", value: "FILE", commands: ["copy", "mirror"] },
  { name: "--json-lines", commands: ["copy", "mirror"] },
  { name: "--stats", commands: ["copy", "mirror"] },
  { name: "--progress", commands: ALL },
  { name: "--no-progress", commands: ALL },
  { name: "--json", commands: ALL },
  { name: "--verbose", short: "-v", commands: ALL },
  { name: "--no-telemetry", commands: ALL },
  { name: "--help", short: "-h", commands: ALL },
];

/** Every spelling of the flags `command` accepts (all transfer commands when left out): "--workers", "-w", ... */
export function transferFlagNames(command?: TransferCommand): string[] {
  return TRANSFER_FLAGS.filter((f) => command === undefined || f.commands.includes(command)).flatMap((f) => (f.short ? [f.name, f.short] : [f.name]));
}

/** The flag `token` names ("--workers=8" and "-w" included), or undefined. */
export function transferFlag(token: string): TransferFlag | undefined {
  const name = token.split("=")[0]!;
  return TRANSFER_FLAGS.find((f) => f.name === name || f.short === name);
}

/** The parseArgs options copy, mirror, push and pull all take (each command adds its own). */
export const COMMON_TRANSFER_OPTIONS = {
  "dry-run": { type: "boolean", short: "n" },
  checksum: { type: "boolean", short: "c" },
  "size-only": { type: "boolean" },
  "ignore-times": { type: "boolean", short: "I" },
  exclude: { type: "string", multiple: true },
  "hard-links": { type: "boolean", short: "H" },
  specials: { type: "boolean" },
  devices: { type: "boolean" },
  "max-delete": { type: "string" },
  force: { type: "boolean" },
  progress: { type: "boolean" },
  "no-progress": { type: "boolean" },
  json: { type: "boolean" },
  verbose: { type: "boolean", short: "v" },
  "no-telemetry": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** The parseArgs options of backups and per-entry logs (copy and mirror; see TRANSFER_FLAGS). */
export const BACKUP_AND_LOG_OPTIONS = {
  backup: { type: "boolean", short: "b" },
  "backup-dir": { type: "string" },
  suffix: { type: "string" },
  "itemize-changes": { type: "boolean", short: "i" },
  "log-file": { type: "string" },
  "json-lines": { type: "boolean" },
  stats: { type: "boolean" },
} as const;

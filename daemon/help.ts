// blitd's flags as one table, from which its parser, its --help (also printed by `blit help
// blitd`) and the README's table are made. The rows have the shape of the command kit's Flag
// (tui/kit/flag.ts), which daemon/ cannot import: the README generator reads them as Flag rows.
// A small module: no gRPC loaded to show the help.
import type { ParseArgsConfig } from "node:util";
import { VERSION } from "../engine/index.ts";

/** One flag of blitd: the fields of tui/kit/flag.ts's Flag. */
export interface DaemonFlag {
  name: string;
  short?: string;
  value?: string;
  commands: readonly "blitd"[];
  help: string;
  default?: string;
}

/** The help's flag column and line width, as the kit's (tui/kit/flag.ts). */
const COLUMN = 25;
const WIDTH = 96;

export const BLITD_FLAGS: readonly DaemonFlag[] = [
  { name: "--config", short: "-c", value: "FILE", commands: ["blitd"], help: "blitd.toml: modules, auth token file, limits (see docs/remote.md)" },
  {
    name: "--bind", value: "HOST:PORT", commands: ["blitd"],
    help: "where to listen (IPv6 as [::1]:9031; port 0 picks a free port); a non-loopback address requires auth_token_file in the config, and TLS (tls_cert_file, tls_key_file) unless allow_plaintext = true",
    default: "'bind' in the config, else 127.0.0.1:9031",
  },
  { name: "--force-grpc-data", commands: ["blitd"], help: "carry file data inside gRPC streams, never on a TCP data connection" },
  { name: "--quiet", short: "-q", commands: ["blitd"], help: "log nothing but errors and warnings" },
  { name: "--version", short: "-V", commands: ["blitd"], help: "print the version" },
  { name: "--help", short: "-h", commands: ["blitd"], help: "this help" },
];

export const BLITD_HELP = `blitd ${VERSION} — the blit daemon: serves 'blit push', 'blit pull' and 'blit ls'

Usage:
  blitd --config FILE [--bind HOST:PORT] [--force-grpc-data]

Flags:
${BLITD_FLAGS.map(flagLine).join("\n")}

On start blitd prints one line on stdout: 'blitd listening on HOST:PORT'. With TLS
(tls_cert_file, tls_key_file) it logs the key fingerprint clients pin, even with --quiet.
It removes temporary files that an interrupted transfer left in writable modules. SIGINT/SIGTERM
stop it; transfers in progress are ended and their temporary files removed.

Exit codes: 0 stopped by a signal, 2 bad flags or config, 1 could not start (port in use...).
`;

/** node:util parseArgs options for the table. */
export function blitdParseSpec(): NonNullable<ParseArgsConfig["options"]> {
  return Object.fromEntries(BLITD_FLAGS.map((f) => [
    f.name.slice(2), { type: f.value ? "string" : "boolean", ...(f.short ? { short: f.short.slice(1) } : {}) },
  ])) as NonNullable<ParseArgsConfig["options"]>;
}

/** A parseArgs failure in one line: the option named, the flag meant when it is a typo, never node's own advice. */
export function blitdUsageError(e: unknown): string {
  const code = (e as { code?: string }).code ?? "";
  const message = (e as Error).message ?? String(e);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  const option = /--[\w-]+/.exec(quoted)?.[0] ?? /-\w/.exec(quoted)?.[0] ?? quoted;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const meant = nearest(option);
    return `unknown option '${option}'; ${meant ? `did you mean '${meant}'?` : "run 'blitd --help' for its flags"}`;
  }
  const flag = BLITD_FLAGS.find((f) => f.name === option || f.short === option);
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag?.value) return `option '${flag.name}' needs a value (${flag.value}); run 'blitd --help'`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return `option '${option}' takes no value`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return `unexpected argument '${quoted}'; blitd takes flags only (--config FILE); run 'blitd --help'`;
  return `${message.split(". ")[0]}; run 'blitd --help'`;
}

/**
 * "  -c, --config FILE      text", wrapped at 96 columns under the text's column: the kit's layout
 * (tui/kit/flag.ts helpLines), so `blitd --help` reads like `blit COMMAND --help`.
 */
function flagLine(f: DaemonFlag): string {
  const head = `  ${f.short ? `${f.short}, ` : "    "}${f.name}${f.value ? ` ${f.value}` : ""}`;
  const text = f.default === undefined ? f.help : `${f.help} (default: ${f.default})`;
  const out: string[] = [];
  let line = head.length < COLUMN - 1 ? head.padEnd(COLUMN) : `${head}\n${" ".repeat(COLUMN)}`;
  let used = line.length - line.lastIndexOf("\n") - 1;
  let first = true;
  for (const word of text.split(" ")) {
    if (!first && used + 1 + word.length > WIDTH) {
      out.push(line);
      line = " ".repeat(COLUMN) + word;
      used = line.length;
    } else {
      line += (first ? "" : " ") + word;
      used += (first ? 0 : 1) + word.length;
    }
    first = false;
  }
  out.push(line);
  return out.join("\n");
}

/** The flag a typo meant, by the kit's rule (tui/kit/command.ts nearestFlag): within half the name's length. */
function nearest(typed: string): string | undefined {
  const bare = typed.replace(/^-+/, "");
  let best: { name: string; d: number } | undefined;
  for (const f of BLITD_FLAGS) {
    const d = distance(bare, f.name.slice(2));
    if (d <= Math.max(1, Math.ceil((f.name.length - 2) / 2)) && d < bare.length + 1 && (!best || d < best.d)) best = { name: f.name, d };
  }
  return best?.name;
}

/** Levenshtein distance. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

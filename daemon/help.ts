// blitd's flags as one table, from which its parser, its --help (also printed by `blit help
// blitd`) and the README's table are made, by the same helpers as the command kit's
// (engine/flag-table.ts). A small module: no gRPC loaded to show the help.
import type { ParseArgsConfig } from "node:util";
import { helpLines, nearestFlag, parseSpec, VERSION, type Flag } from "../engine/index.ts";

/** One flag of blitd. */
export type DaemonFlag = Flag<"blitd">;

export const BLITD_FLAGS: readonly DaemonFlag[] = [
  { name: "--config", short: "-c", value: "FILE", commands: ["blitd"], help: "blitd.toml: modules, auth token file, limits (see docs/remote.md)" },
  {
    name: "--bind", value: "HOST:PORT", commands: ["blitd"],
    help: "where to listen (IPv6 as [::1]:9031; port 0 picks a free port); a non-loopback address requires auth_token_file in the config, and TLS (tls_cert_file, tls_key_file) unless allow_plaintext = true",
    default: "'bind' in the config, else 127.0.0.1:9031",
  },
  {
    name: "--metrics-bind", value: "HOST:PORT", commands: ["blitd"],
    help: "serve Prometheus metrics at http://HOST:PORT/metrics (plain HTTP, no auth; port 0 picks a free port; never the --bind port)",
    default: "'metrics_bind' in the config, else off",
  },
  { name: "--force-grpc-data", commands: ["blitd"], help: "carry file data inside gRPC streams, never on a TCP data connection" },
  { name: "--quiet", short: "-q", commands: ["blitd"], help: "log nothing but errors and warnings" },
  { name: "--version", short: "-V", commands: ["blitd"], help: "print the version" },
  { name: "--help", short: "-h", commands: ["blitd"], help: "this help" },
];

export const BLITD_HELP = `blitd ${VERSION} — the blit daemon: serves 'blit push', 'blit pull' and 'blit ls'

Usage:
  blitd --config FILE [--bind HOST:PORT] [--metrics-bind HOST:PORT] [--force-grpc-data]

Flags:
${helpLines(BLITD_FLAGS, "blitd")}

On start blitd prints one line on stdout: 'blitd listening on HOST:PORT', and with metrics_bind
a second: 'blitd metrics on http://HOST:PORT/metrics'. With TLS
(tls_cert_file, tls_key_file) it logs the key fingerprint clients pin, even with --quiet.
It removes temporary files that an interrupted transfer left in writable modules. SIGINT/SIGTERM
stop it; transfers in progress are ended and their temporary files removed.

Exit codes: 0 stopped by a signal, 2 bad flags or config, 1 could not start (port in use...).
`;

/** node:util parseArgs options for the table. */
export function blitdParseSpec(): NonNullable<ParseArgsConfig["options"]> {
  return parseSpec(BLITD_FLAGS);
}

/** A parseArgs failure in one line: the option named, the flag meant when it is a typo, never node's own advice. */
export function blitdUsageError(e: unknown): string {
  const code = (e as { code?: string }).code ?? "";
  const message = (e as Error).message ?? String(e);
  const quoted = /'([^']*)'/.exec(message)?.[1] ?? "";
  const option = /--[\w-]+/.exec(quoted)?.[0] ?? /-\w/.exec(quoted)?.[0] ?? quoted;
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const meant = nearestFlag(option, BLITD_FLAGS);
    return `unknown option '${option}'; ${meant ? `did you mean '${meant}'?` : "run 'blitd --help' for its flags"}`;
  }
  const flag = BLITD_FLAGS.find((f) => f.name === option || f.short === option);
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag?.value) return `option '${flag.name}' needs a value (${flag.value}); run 'blitd --help'`;
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") return `option '${option}' takes no value`;
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") return `unexpected argument '${quoted}'; blitd takes flags only (--config FILE); run 'blitd --help'`;
  return `${message.split(". ")[0]}; run 'blitd --help'`;
}

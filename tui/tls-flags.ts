// The client's TLS flags for blits:// URLs (push, pull, ls, check), parsed into the engine's
// TlsClientOptions. Pins live in $BLIT_HOME/known_daemons, beside the telemetry store.
import { dirname, join } from "node:path";
import type { TlsClientOptions } from "../engine/index.ts";
import { telemetryPath } from "../analytics/index.ts";

/** parseArgs options of the TLS flags. */
export const TLS_OPTIONS = {
  "tls-ca": { type: "string" },
  "tls-fingerprint": { type: "string" },
  "tls-accept-new": { type: "boolean" },
} as const;

export const TLS_HELP = `      --tls-ca FILE      blits://: trust the daemon's certificate if this CA (PEM) signed it
                         for the URL's host and it is within its dates (instead of pinning)
      --tls-fingerprint SHA256:...
                         blits://: the daemon's key must have this fingerprint (blitd logs it
                         at start); it is then recorded in $BLIT_HOME/known_daemons
      --tls-accept-new   blits://: trust a daemon not yet in known_daemons on first use and
                         record its key; a recorded key that changes is always refused`;

/** $BLIT_HOME/known_daemons (else beside the telemetry store in the user's data dir). */
export function knownDaemonsFile(env: NodeJS.ProcessEnv): string {
  return join(dirname(telemetryPath(env)), "known_daemons");
}

/** The TLS flags as the engine takes them. */
export function tlsOptions(values: { "tls-ca"?: string; "tls-fingerprint"?: string; "tls-accept-new"?: boolean }, env: NodeJS.ProcessEnv): TlsClientOptions {
  return {
    caFile: values["tls-ca"],
    fingerprint: values["tls-fingerprint"],
    acceptNew: values["tls-accept-new"] ?? false,
    knownDaemonsFile: knownDaemonsFile(env),
  };
}

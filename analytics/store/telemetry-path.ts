// Where the telemetry store lives and whether it is on: one documented precedence, read from the
// environment the caller passes (flags are the CLI's business and win over this).
import { homedir } from "node:os";
import { dirname, join } from "node:path";

type Env = Record<string, string | undefined>;

const STORE_FILE = "telemetry.duckdb";

/**
 * The store file: `$BLIT_HOME/telemetry.duckdb`, else `$XDG_DATA_HOME/blit/telemetry.duckdb`,
 * else `~/.local/share/blit/telemetry.duckdb`. Empty variables count as unset, and a relative
 * `XDG_DATA_HOME` is ignored, as the XDG spec says.
 */
export function telemetryPath(env: Env = process.env): string {
  const blitHome = env.BLIT_HOME?.trim();
  if (blitHome) return join(blitHome, STORE_FILE);
  const xdg = env.XDG_DATA_HOME?.trim();
  if (xdg && xdg.startsWith("/")) return join(xdg, "blit", STORE_FILE);
  const home = env.HOME?.trim() || homedir();
  return join(home, ".local", "share", "blit", STORE_FILE);
}

/** False when `BLIT_TELEMETRY` is `off`, `0` or `false` (any case); true otherwise. */
export function telemetryEnabled(env: Env = process.env): boolean {
  const value = env.BLIT_TELEMETRY?.trim().toLowerCase();
  return !(value === "off" || value === "0" || value === "false");
}

/** The spool directory that belongs to a store file: `<dir>/spool`. */
export function spoolDirFor(storePath: string): string {
  return join(dirname(storePath), "spool");
}

// blitd.toml: modules and limits, read once at start and normalized here. Flags beat the file,
// the file beats defaults. See docs/remote.md for the reference and an example.
import { readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { loadDaemonTls, plaintextRefusal, TLS_CONFIG_KEYS, type DaemonTls } from "./tls.ts";

export interface ModuleConfig {
  name: string;
  /** Absolute path of the module's root directory. */
  path: string;
  /** @default true */
  readOnly: boolean;
  /** @default "" */
  comment: string;
  /**
   * Pushes into this module may set owners and groups, create device nodes and set trusted.* and
   * security.* attributes, as the client's manifest says (blitd must run as root). This trusts
   * every client that may push here with any owner, a setuid file of any owner included: give it
   * only to modules whose clients you would give root on this host. @default false
   */
  keepOwners: boolean;
}

export interface DaemonConfig {
  /** "host:port"; IPv6 as "[::1]:9031". @default "127.0.0.1:9031" */
  bind: string;
  modules: Map<string, ModuleConfig>;
  /** File holding the auth token; required for a non-loopback bind. @default undefined */
  authTokenFile?: string;
  /** The token read from authTokenFile (trimmed). */
  authToken?: string;
  /** Authenticated client connections, and concurrent transfers, the daemon accepts. @default 64 */
  maxConnections: number;
  /**
   * Connections that have not yet made a call that passed the token check, at once; when full,
   * the oldest of them is closed to make room. Separate from maxConnections. @default 16
   */
  maxUnauthenticated: number;
  /** Seconds a new connection has to make an authenticated call before it is closed. @default 5 */
  handshakeTimeout: number;
  /** Seconds a transfer (or gRPC connection) may sit idle before it is ended. @default 300 */
  idleTimeout: number;
  /**
   * Seconds a data-plane token stays valid; its listener closes then, and a transfer whose data
   * connection never came gives up its slot. @default 10
   */
  tokenTtl: number;
  /**
   * Seconds a transfer whose data ended (or whose token expired unused) waits for its Complete
   * before it is ended. @default 30
   */
  completeTimeout: number;
  /** Send all file data inside gRPC, never a TCP data connection. @default false */
  forceGrpcData: boolean;
  /** Directory of the daemon's telemetry store. @default $BLIT_HOME or the user's data dir */
  telemetryDir?: string;
  /** @default true (BLIT_TELEMETRY=off turns it off) */
  telemetry: boolean;
  /** TLS for the gRPC port and the data plane (tls_cert_file, tls_key_file). @default undefined: plaintext */
  tls?: DaemonTls;
  /** A bind off loopback may go without TLS (allow_plaintext). @default false */
  allowPlaintext: boolean;
  /**
   * "host:port" of the Prometheus listener (plain HTTP, GET /metrics, no auth; port 0 picks a
   * free port). Never the gRPC port. @default undefined: no metrics listener
   */
  metricsBind?: string;
}

export class ConfigError extends Error {
  readonly code = "CONFIG";
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

const MODULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const TOP_KEYS = new Set(["bind", "auth_token_file", "max_connections", "max_unauthenticated", "handshake_timeout", "idle_timeout", "token_ttl", "complete_timeout", "force_grpc_data", "telemetry_dir", "telemetry", "metrics_bind", "modules"]);
for (const k of TLS_CONFIG_KEYS) TOP_KEYS.add(k); // daemon/tls.ts reads them
const MODULE_KEYS = new Set(["path", "read_only", "comment", "keep_owners"]);

export interface ConfigOverrides {
  bind?: string;
  metricsBind?: string;
  forceGrpcData?: boolean;
}

/** Reads and validates blitd.toml. Throws ConfigError naming the file and the key. */
export function loadConfig(file: string, overrides: ConfigOverrides = {}): DaemonConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (err) {
    const line = tomlErrorLine(text);
    const what = (err as Error).message.replace(/^TOML Parse error: /, "");
    throw new ConfigError(`${file}${line ? `:${line.number}` : ""}: not valid TOML: ${what}${line ? ` (line ${line.number}: ${line.text.trim()})` : ""}`);
  }
  const base = dirname(resolve(file));
  const config = normalizeConfig(raw, base, file, overrides);
  // A daemon with nothing to serve answers every client "module not found": refuse to start.
  if (config.modules.size === 0) {
    throw new ConfigError(`${file}: no modules; add at least one, e.g. [modules.backup] with path = "/srv/backup" (see docs/remote.md)`);
  }
  return config;
}

/**
 * The line a TOML error is on (Bun's parser does not say): the first line at which the file's
 * beginning fails to parse with the same error as the whole file (a construct merely left open
 * there, as an array over several lines, fails differently and is read on).
 */
export function tomlErrorLine(text: string): { number: number; text: string } | undefined {
  const lines = text.split("\n");
  if (lines.length > 5000) return undefined;
  const errorOf = (t: string) => {
    try {
      Bun.TOML.parse(t);
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  };
  const whole = errorOf(text);
  if (whole === undefined) return undefined;
  for (let n = 1; n <= lines.length; n++) {
    if (errorOf(lines.slice(0, n).join("\n")) === whole) return { number: n, text: lines[n - 1]! };
  }
  return undefined;
}

export function normalizeConfig(raw: Record<string, unknown>, base: string, file = "config", overrides: ConfigOverrides = {}): DaemonConfig {
  const bad = (msg: string): never => {
    throw new ConfigError(`${file}: ${msg}`);
  };
  for (const k of Object.keys(raw)) if (!TOP_KEYS.has(k)) bad(`unknown key '${k}'`);
  const num = (k: string, def: number, min: number, max: number): number => {
    const v = raw[k];
    if (v === undefined) return def;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) bad(`'${k}' must be a number from ${min} to ${max}`);
    return v as number;
  };
  const str = (k: string): string | undefined => {
    const v = raw[k];
    if (v === undefined) return undefined;
    if (typeof v !== "string" || v === "") bad(`'${k}' must be a non-empty string`);
    return v as string;
  };
  const bool = (k: string, def: boolean): boolean => {
    const v = raw[k];
    if (v === undefined) return def;
    if (typeof v !== "boolean") bad(`'${k}' must be true or false`);
    return v as boolean;
  };
  const modules = new Map<string, ModuleConfig>();
  const rawModules = raw.modules ?? {};
  if (typeof rawModules !== "object" || Array.isArray(rawModules)) bad("'modules' must be tables: [modules.NAME]");
  for (const [name, m] of Object.entries(rawModules as Record<string, unknown>)) {
    if (!MODULE_NAME.test(name)) bad(`module name '${name}' is invalid (letters, digits, '.', '_', '-'; at most 64)`);
    if (typeof m !== "object" || m === null) bad(`[modules.${name}] must be a table`);
    const mm = m as Record<string, unknown>;
    for (const k of Object.keys(mm)) if (!MODULE_KEYS.has(k)) bad(`[modules.${name}]: unknown key '${k}'`);
    if (typeof mm.path !== "string" || mm.path === "") bad(`[modules.${name}] needs 'path'`);
    const path = resolve(base, mm.path as string);
    try {
      if (!statSync(path).isDirectory()) bad(`[modules.${name}]: '${path}' is not a directory`);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      bad(`[modules.${name}]: path '${path}' does not exist`);
    }
    if (mm.read_only !== undefined && typeof mm.read_only !== "boolean") bad(`[modules.${name}]: 'read_only' must be true or false`);
    if (mm.comment !== undefined && typeof mm.comment !== "string") bad(`[modules.${name}]: 'comment' must be a string`);
    if (mm.keep_owners !== undefined && typeof mm.keep_owners !== "boolean") bad(`[modules.${name}]: 'keep_owners' must be true or false`);
    modules.set(name, {
      name, path, readOnly: (mm.read_only as boolean | undefined) ?? true, comment: (mm.comment as string | undefined) ?? "",
      keepOwners: (mm.keep_owners as boolean | undefined) ?? false,
    });
  }
  const bind = overrides.bind ?? str("bind") ?? "127.0.0.1:9031";
  const { host } = parseBind(bind);
  let authTokenFile = str("auth_token_file");
  if (authTokenFile && !isAbsolute(authTokenFile)) authTokenFile = resolve(base, authTokenFile);
  let authToken: string | undefined;
  if (authTokenFile) {
    try {
      authToken = readFileSync(authTokenFile, "utf8").trim();
    } catch (err) {
      bad(`cannot read auth_token_file '${authTokenFile}': ${(err as Error).message}`);
    }
    if (!authToken || authToken.length < 16) bad(`auth token in '${authTokenFile}' is shorter than 16 characters`);
  }
  if (!isLoopback(host) && !authToken) {
    bad(`binding ${bind} (not loopback) requires 'auth_token_file'; without it anyone who can reach the port could read and write the modules`);
  }
  const { tls, allowPlaintext } = loadDaemonTls(raw, base, bad);
  const plaintext = plaintextRefusal(bind, isLoopback(host), tls, allowPlaintext);
  if (plaintext) bad(plaintext);
  const metricsBind = checkMetricsBind(overrides.metricsBind ?? str("metrics_bind"), bind, bad);
  let telemetryDir = str("telemetry_dir");
  if (telemetryDir && !isAbsolute(telemetryDir)) telemetryDir = resolve(base, telemetryDir);
  return {
    bind,
    modules,
    authTokenFile,
    authToken,
    maxConnections: num("max_connections", 64, 1, 100_000),
    maxUnauthenticated: num("max_unauthenticated", 16, 1, 100_000),
    handshakeTimeout: num("handshake_timeout", 5, 0.05, 600),
    idleTimeout: num("idle_timeout", 300, 1, 86_400),
    tokenTtl: num("token_ttl", 10, 0.1, 600),
    completeTimeout: num("complete_timeout", 30, 0.1, 86_400),
    forceGrpcData: overrides.forceGrpcData || bool("force_grpc_data", false),
    telemetryDir,
    telemetry: bool("telemetry", true),
    tls,
    allowPlaintext,
    metricsBind,
  };
}

/**
 * metrics_bind, checked: a valid HOST:PORT whose port is not the gRPC port (the metrics listener
 * never shares a port with the data or control plane; port 0 on both picks two free ports).
 */
function checkMetricsBind(metricsBind: string | undefined, bind: string, bad: (msg: string) => never): string | undefined {
  if (metricsBind === undefined) return undefined;
  let port: number;
  try {
    ({ port } = parseBind(metricsBind));
  } catch {
    return bad(`'metrics_bind' = '${metricsBind}' is not a valid address (expected HOST:PORT, e.g. 127.0.0.1:9100; IPv6 as [::1]:9100)`);
  }
  if (port !== 0 && port === parseBind(bind).port) {
    bad(`'metrics_bind' = '${metricsBind}' uses port ${port}, the gRPC port of bind '${bind}'; give the metrics listener a port of its own, e.g. 127.0.0.1:9100`);
  }
  return metricsBind;
}

/**
 * What an operator should fix in a config that still works, one sentence each (blitd logs them
 * at start): today, a token file that group or others may read or write.
 */
export function configWarnings(config: DaemonConfig): string[] {
  const warnings: string[] = [];
  if (config.metricsBind && !isLoopback(parseBind(config.metricsBind).host)) {
    warnings.push(`metrics_bind '${config.metricsBind}' is not loopback: whoever can reach it reads module names and traffic counts (no auth); let only your Prometheus reach it`);
  }
  const file = config.authTokenFile;
  if (file) {
    let mode = 0;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {}
    if (mode & 0o077) {
      warnings.push(`auth_token_file '${file}' is open to group or others (mode ${mode.toString(8).padStart(4, "0")}): whoever can read it can use every module; run 'chmod 600 ${file}'`);
    }
  }
  return warnings;
}

/** "host:port" or "[v6]:port" -> parts. Throws ConfigError. */
export function parseBind(bind: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(bind);
  if (!m || Number(m[3]) > 65535) throw new ConfigError(`invalid bind address '${bind}' (expected HOST:PORT, IPv6 as [::1]:PORT)`);
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

// blit://HOST:PORT/MODULE/PATH URLs; blits:// for a daemon that speaks TLS (engine/remote/tls.ts).
// IPv6 hosts are written in brackets: blit://[::1]:9031/m.
import { checkPath, DEFAULT_PORT, PathError } from "../../proto/index.ts";
import { UsageError } from "../errors.ts";

export interface RemoteUrl {
  /** Host as given, without brackets. */
  host: string;
  port: number;
  /** "" when the URL names the daemon only (blit ls). */
  module: string;
  /** Relative to the module root, "" for the root. */
  path: string;
  /** "host:port" with IPv6 in brackets, for gRPC and messages. */
  address: string;
  /** blits://: both planes under TLS. */
  tls: boolean;
}

const MODULE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function isRemote(arg: string): boolean {
  return arg.startsWith("blit://") || arg.startsWith("blits://");
}

export function validModuleName(name: string): boolean {
  return MODULE_NAME.test(name);
}

/** Parses a blit:// URL; throws UsageError with the reason. */
export function parseRemoteUrl(text: string, opts: { needModule: boolean }): RemoteUrl {
  const bad = (why: string): never => {
    throw new UsageError("BAD_URL", `'${text}' is not a valid blit URL: ${why} (expected blit://HOST:PORT/MODULE[/PATH], or blits:// for TLS)`);
  };
  if (!isRemote(text)) bad("it must start with blit:// or blits://");
  const tls = text.startsWith("blits://");
  const rest = text.slice(tls ? "blits://".length : "blit://".length);
  let host: string;
  let after: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0) bad("missing ']' after an IPv6 address");
    host = rest.slice(1, close);
    after = rest.slice(close + 1);
    if (!/^[0-9A-Fa-f:.%a-zA-Z]+$/.test(host)) bad("invalid IPv6 address");
  } else {
    const m = /^([^/:[\]]+)(.*)$/.exec(rest);
    if (!m) bad("missing host");
    host = m![1]!;
    after = m![2]!;
  }
  let port = DEFAULT_PORT;
  if (after.startsWith(":")) {
    const m = /^:(\d{1,5})(\/.*)?$/.exec(after);
    if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) bad("invalid port");
    port = Number(m![1]);
    after = m![2] ?? "";
  }
  if (after !== "" && !after.startsWith("/")) bad("unexpected text after the host");
  const parts = after.split("/").filter((p) => p !== "");
  const module = parts[0] ?? "";
  const path = parts.slice(1).join("/");
  if (module === "" && opts.needModule) bad("missing module name");
  if (module !== "" && !validModuleName(module)) bad(`invalid module name '${module}'`);
  try {
    checkPath(path, "remote path", true);
  } catch (e) {
    if (e instanceof PathError) bad(e.message);
    throw e;
  }
  const address = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, module, path, address, tls };
}

export function formatRemoteUrl(u: RemoteUrl): string {
  return `${u.tls ? "blits" : "blit"}://${u.address}/${u.module}${u.path ? "/" + u.path : ""}`;
}

/** True for a host on this machine's loopback (localhost, 127.0.0.0/8, ::1): delta is not worth it there by default. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === "::ffff:127.0.0.1";
}

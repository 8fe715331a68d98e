#!/usr/bin/env bun
// blitd: serve blit push / pull / ls for the modules in a config file.
import { parseArgs } from "node:util";
import { VERSION } from "../engine/index.ts";
import { BLITD_HELP, blitdParseSpec, blitdUsageError } from "./help.ts";
import { ConfigError, loadConfig, startDaemon } from "./index.ts";
import { tlsStartupLines } from "./tls.ts";

/** "host:port", IPv6 in brackets. */
function hostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: process.argv.slice(2), strict: true, options: blitdParseSpec() }));
  } catch (err) {
    process.stderr.write(`blitd: ${blitdUsageError(err)}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(BLITD_HELP);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`blitd ${VERSION}\n`);
    return 0;
  }
  const file = values.config as string | undefined;
  if (!file) {
    process.stderr.write("blitd: --config FILE is required; run 'blitd --help'\n");
    return 2;
  }
  let config;
  try {
    config = loadConfig(file, {
      bind: values.bind as string | undefined, metricsBind: values["metrics-bind"] as string | undefined, forceGrpcData: values["force-grpc-data"] as boolean | undefined });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`blitd: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const log = (msg: string) => {
    if (!values.quiet || msg.startsWith("error") || msg.startsWith("warning")) process.stderr.write(`blitd: ${msg}\n`);
  };
  let handle;
  try {
    handle = await startDaemon(config, log);
  } catch (err) {
    process.stderr.write(`blitd: cannot start on ${config.bind}: ${(err as Error).message}\n`);
    return 1;
  }
  process.stdout.write(`blitd listening on ${hostPort(handle.host, handle.port)}\n`);
  // Scripts and tests read the port picked for metrics_bind = "HOST:0" here.
  if (handle.metrics) process.stdout.write(`blitd metrics on http://${hostPort(handle.metrics.host, handle.metrics.port)}/metrics\n`);
  // Even with --quiet: the fingerprint is what clients pin (--tls-fingerprint).
  for (const line of tlsStartupLines(config.tls)) process.stderr.write(`blitd: ${line}\n`);
  log(`${config.modules.size} module${config.modules.size === 1 ? "" : "s"}: ${[...config.modules.values()].map((m) => `${m.name}${m.readOnly ? " (read-only)" : ""}`).join(", ") || "none"}`);
  // Nothing a peer sends may stop the daemon: a stray exception is logged, not fatal.
  process.on("uncaughtException", (err) => log(`error: uncaught: ${err?.stack ?? err}`));
  process.on("unhandledRejection", (err) => log(`error: unhandled: ${(err as Error)?.stack ?? err}`));
  await new Promise<void>((resolve) => {
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await handle.close();
  return 0;
}

process.exit(await main());

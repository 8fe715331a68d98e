// blitd's public API: load a config, start the daemon, stop it.
export { startDaemon, removeStaleTemps } from "./server.ts";
export type { DaemonHandle, DaemonLogger } from "./server.ts";
export { loadConfig, normalizeConfig, parseBind, isLoopback, configWarnings, ConfigError } from "./config.ts";
export type { DaemonConfig, ModuleConfig, ConfigOverrides } from "./config.ts";
export { DaemonError } from "./errors.ts";
export type { DaemonErrorCode } from "./errors.ts";
export type { DaemonTls } from "./tls.ts";
export { BLITD_FLAGS, BLITD_HELP } from "./help.ts";
export type { DaemonFlag } from "./help.ts";

#!/usr/bin/env bun
// Test driver: `bun test/remote/remote-cli.ts push|pull|ls ARGS...` runs blit's command line as
// a separate process (so tests can kill a client mid-transfer), as `blit push|pull|ls ARGS...`.
import { main } from "../../tui/cli.ts";

process.exitCode = await main(process.argv.slice(2));

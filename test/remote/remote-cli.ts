#!/usr/bin/env bun
// Test driver: `bun test/remote/remote-cli.ts push|pull|ls ARGS...` runs the remote commands as
// a separate process (so tests can kill a client mid-transfer) until tui/cli.ts routes them.
import { lsCommand, pullCommand, pushCommand } from "../../tui/remote-command.ts";

const [cmd, ...args] = process.argv.slice(2);
const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };
const fn = cmd === "push" ? pushCommand : cmd === "pull" ? pullCommand : cmd === "ls" ? lsCommand : undefined;
if (!fn) {
  process.stderr.write("usage: remote-cli.ts push|pull|ls ARGS...\n");
  process.exit(2);
}
process.exit(await fn(args, io));

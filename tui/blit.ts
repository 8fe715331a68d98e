#!/usr/bin/env bun
// Entry point of the `blit` command.
import { main } from "./cli.ts";

process.exitCode = await main(process.argv.slice(2));

#!/usr/bin/env bun
// Entry point of the `blit` command.
import { main } from "./index.ts";

process.exitCode = await main(process.argv.slice(2));

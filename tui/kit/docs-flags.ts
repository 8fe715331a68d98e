#!/usr/bin/env bun
// `npm run docs:flags`: rewrite the README's flag tables from the flag tables (tui/kit/readme.ts).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderReadme } from "./readme.ts";

const file = join(import.meta.dir, "..", "..", "README.md");
const before = readFileSync(file, "utf8");
const after = renderReadme(before);
if (after !== before) writeFileSync(file, after);
process.stdout.write(after === before ? "README.md flag tables are up to date\n" : "README.md flag tables rewritten\n");

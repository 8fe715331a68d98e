// Shared by the trace suites: the public fixtures (read in place, never copied), temp dirs that are
// always removed, and collecting a reader's items.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readTrace, type BadLine, type ReadTraceOptions, type TraceEvent } from "../../traces/index.ts";

export const FIXTURES = fileURLToPath(new URL("../../../shared/fixtures/traces/", import.meta.url));
export const PROJECT_ROOT = resolve(import.meta.dir, "../..");
export const BUN = process.execPath;

export function fixture(rel: string): string {
  return join(FIXTURES, rel);
}

/** The fixture's lines as the test reads them itself (BOM removed), for independent counts. */
export function rawLines(path: string): string[] {
  return readFileSync(path, "utf8").replace(/^\uFEFF/, "").split(/\r?\n/);
}

export function collect(path: string, options: ReadTraceOptions = {}) {
  const reader = readTrace(path, options);
  const events: TraceEvent[] = [];
  const bad: BadLine[] = [];
  for (const item of reader) {
    if (item.event) events.push(item.event);
    else bad.push(item.bad);
  }
  return { format: reader.format, state: reader.state, events, bad };
}

/** Runs `use` with a fresh `blit-test-` directory that is removed afterwards, even on failure. */
export async function withTempDir<T>(use: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "blit-test-"));
  try {
    return await use(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A writable stream stand-in that keeps what was written. */
export function fakeStream(): NodeJS.WriteStream & { text: () => string } {
  const chunks: string[] = [];
  return {
    write(chunk: string | Uint8Array) {
      chunks.push(typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk));
      return true;
    },
    isTTY: false,
    text: () => chunks.join(""),
  } as unknown as NodeJS.WriteStream & { text: () => string };
}

// blit's transfer flags as data (what suggestions are checked against) agree with what the
// commands' own --help lists, and the command line to try is built from them.
import { describe, expect, test } from "bun:test";
import { normalizeOptions, type RunReport } from "../../engine/index.ts";
import { main, transferFlagNames, tryCommand } from "../../tui/index.ts";

async function help(command: string): Promise<string> {
  let text = "";
  const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WriteStream;
  expect(await main([command, "--help"], { stdout: sink, stderr: sink, env: {} })).toBe(0);
  return text;
}

/** Every flag spelling a help text lists in its flag column ("  -w, --workers N", "      --json"). */
function listed(text: string): string[] {
  return [...text.matchAll(/^ {2}(?:(-\w), )?\s*(--[\w-]+)/gm)].flatMap((m) => (m[1] ? [m[2]!, m[1]] : [m[2]!])).sort();
}

describe("the transfer flag list", () => {
  test("is exactly what copy and mirror --help list", async () => {
    expect(transferFlagNames("copy").sort()).toEqual(listed(await help("copy")));
    expect(transferFlagNames("mirror").sort()).toEqual(listed(await help("mirror")));
  });

  test("is exactly what push and pull --help list", async () => {
    for (const command of ["push", "pull"] as const) expect(transferFlagNames(command).sort()).toEqual(listed(await help(command)));
  });
});

describe("the command line to try", () => {
  const report = (options: Partial<RunReport["options"]> = {}, extra: Partial<RunReport> = {}) =>
    ({ command: "mirror", route: "local", source: "/data/my photos", destination: "/backup/dst", options: { ...normalizeOptions({}), ...options }, ...extra }) as RunReport;

  test("keeps the run's backups: --backup-dir with its suffix, or --backup with a suffix other than ~", () => {
    expect(tryCommand(report(normalizeOptions({ backupDir: "../bk" })), "--workers 8")).toBe("blit mirror '/data/my photos' /backup/dst --backup-dir ../bk --workers 8");
    expect(tryCommand(report(normalizeOptions({ backup: true })), "--workers 8")).toBe("blit mirror '/data/my photos' /backup/dst --backup --workers 8");
    expect(tryCommand(report(normalizeOptions({ suffix: ".bak" })))).toBe("blit mirror '/data/my photos' /backup/dst --backup --suffix .bak");
  });

  test("repeats the run's settings, replaces the flag the suggestion changes, and quotes paths", () => {
    expect(tryCommand(report({ bwlimit: 1048576 }), "--bwlimit 0")).toBe("blit mirror '/data/my photos' /backup/dst --bwlimit 0");
    expect(tryCommand(report({ workers: 1, exclude: ["*.tmp"] }), "--workers 8")).toBe("blit mirror '/data/my photos' /backup/dst --exclude '*.tmp' --workers 8");
    expect(tryCommand(report({ exclude: ["*.tmp"] }), "--exclude GLOB")).toBe("blit mirror '/data/my photos' /backup/dst --exclude '*.tmp' --exclude GLOB");
    expect(tryCommand(report({ workers: 1 }), "-w=4")).toBe("blit mirror '/data/my photos' /backup/dst --workers 4");
  });

  test("a push repeats as blit push ... --mirror", () => {
    expect(tryCommand(report({}, { route: "push", destination: "blit://nas:9031/backup" }), "--checksum")).toBe("blit push '/data/my photos' blit://nas:9031/backup --mirror --checksum");
  });
});

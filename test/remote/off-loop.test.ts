// The work blitd does on its worker threads gives the same answers as before: `blit ls` of a
// directory (read and sorted there), and a pull --checksum whose daemon hashes the files the
// client asks about there (unchanged content is announced SAME, changed content is sent).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blit, cleanup, moduleToml, startBlitd, tempDir, type Daemon } from "./helpers.ts";

let work: string;
let ro: string;
let d: Daemon;
let url: string;

beforeAll(async () => {
  work = tempDir("off-loop-");
  ro = join(work, "ro");
  mkdirSync(join(ro, "sub"), { recursive: true });
  for (let i = 0; i < 30; i++) writeFileSync(join(ro, `f${String(i).padStart(2, "0")}.txt`), `file ${i}\n`);
  writeFileSync(join(ro, ".blit-tmp-leftover"), "");
  d = await startBlitd(work, moduleToml({ ro: { path: ro } }));
  url = `blit://127.0.0.1:${d.port}/ro`;
});

afterAll(async () => {
  try {
    await d?.stop();
  } finally {
    cleanup(work);
  }
});

test("blit ls lists a directory sorted, temporaries left out", async () => {
  const r = await blit(["ls", url]);
  expect(r.code).toBe(0);
  const names = r.stdout.trim().split("\n").map((l) => l.split(/\s+/).pop()!);
  expect(names).toEqual([...Array.from({ length: 30 }, (_, i) => `f${String(i).padStart(2, "0")}.txt`), "sub/"]);
});

test("pull --checksum: unchanged files are the same, a file changed behind equal size and mtime is sent", async () => {
  const dst = join(work, "dst");
  expect((await blit(["pull", url, dst])).code).toBe(0);
  // Same size and mtime, other content: only --checksum sees it.
  const victim = join(dst, "f07.txt");
  const st = statSync(victim);
  writeFileSync(victim, "FILE 7\n");
  utimesSync(victim, st.atime, st.mtime);
  const r = await blit(["pull", url, dst, "--checksum", "--json"]);
  expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: "" });
  const rep = JSON.parse(r.stdout.trim().split("\n").pop()!);
  expect(rep.counts.copied).toBe(1);
  expect(readFileSync(victim, "utf8")).toBe("file 7\n");
});

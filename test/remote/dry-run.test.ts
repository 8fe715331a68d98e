// `blit push --dry-run` changes nothing in the module: it plans against what exists, and a target
// directory that does not exist yet is planned as an empty tree (not created).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { lstatSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blit, cleanup, makeTree, moduleToml, startBlitd, tempDir, type Daemon } from "./helpers.ts";

let work: string;
let mod: string;
let src: string;
let d: Daemon;
let url: string;

/** Every entry below dir, sorted (what must not change). */
function entries(dir: string): string[] {
  return readdirSync(dir, { recursive: true }).map(String).sort();
}

beforeAll(async () => {
  work = tempDir("dry-run-");
  mod = join(work, "module");
  src = join(work, "src");
  mkdirSync(join(mod, "existing"), { recursive: true });
  writeFileSync(join(mod, "existing/old.txt"), "old\n");
  makeTree(src, { files: 5 });
  d = await startBlitd(work, moduleToml({ data: { path: mod, readOnly: false } }));
  url = `blit://127.0.0.1:${d.port}/data`;
});

afterAll(async () => {
  try {
    await d?.stop();
  } finally {
    cleanup(work);
  }
});

test("push --dry-run into a directory that does not exist creates nothing and plans every file", async () => {
  const before = entries(mod);
  const r = await blit(["push", "--dry-run", "--json", src, `${url}/new/deep/target`]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  expect(entries(mod)).toEqual(before);
  const rep = JSON.parse(r.stdout.trim().split("\n").pop()!);
  expect(rep.counts.planned).toBe(entries(src).filter((p) => lstatSync(join(src, p)).isFile()).length);
});

test("push --dry-run --mirror --checksum into an existing directory changes nothing there", async () => {
  const before = entries(mod);
  const r = await blit(["push", "--dry-run", "--mirror", "--checksum", src, `${url}/existing`]);
  expect(r.code).toBe(0);
  expect(entries(mod)).toEqual(before);
});

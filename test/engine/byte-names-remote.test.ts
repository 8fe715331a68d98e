// Names are bytes over the wire too: push and pull through a real blitd on loopback keep names
// that are not UTF-8 (and newline, tab, ESC) and symlink targets that are not UTF-8 exactly;
// a mirror deletes extraneous such names on the receiving side; `ls` shows them escaped.
// Run with the Linux backend on both ends, and with the portable one on both ends.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { blit, cleanup, moduleToml, startBlitd, tempDir, type Daemon } from "../remote/helpers.ts";
import { at, b, NAMES, snapshot, writeByteNameTree } from "./byte-names.ts";

const backends = process.platform === "linux" ? ["linux", "portable"] : ["portable"];

for (const be of backends) {
  const env: Record<string, string> = be === "portable" ? { BLIT_BACKEND: "portable" } : {};
  describe(`${be} backend`, () => {
    let work: string;
    let mod: string;
    let src: string;
    let d: Daemon;
    let url: string;

    beforeAll(async () => {
      work = tempDir("bytes-remote-");
      mod = join(work, "module");
      src = join(work, "src");
      mkdirSync(mod);
      mkdirSync(src);
      writeByteNameTree(src);
      d = await startBlitd(work, moduleToml({ data: { path: mod, readOnly: false } }), [], env);
      url = `blit://127.0.0.1:${d.port}`;
    });

    afterAll(async () => {
      try {
        await d?.stop();
      } finally {
        cleanup(work);
      }
    });

    for (const mode of ["tcp", "grpc"] as const) {
      test(`push over ${mode} keeps every name's exact bytes`, async () => {
        const r = await blit(["push", src, `${url}/data/push-${mode}`, "--json", ...(mode === "grpc" ? ["--force-grpc"] : [])], env);
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(snapshot(join(mod, `push-${mode}`))).toEqual(snapshot(src));
      });
    }

    test("push --mirror deletes extraneous non-UTF-8 entries and a re-push changes nothing", async () => {
      const dst = join(mod, "push-mirror");
      mkdirSync(dst);
      writeFileSync(at(dst, b("stale", [0xff])), "extraneous\n");
      mkdirSync(at(dst, b("old", [0xfa])));
      writeFileSync(at(dst, b("old", [0xfa]), b("in", [0xfb])), "extraneous in a dir\n");
      const r = await blit(["push", "--mirror", src, `${url}/data/push-mirror`, "--json"], env);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(snapshot(dst)).toEqual(snapshot(src));
      const again = await blit(["push", "--mirror", src, `${url}/data/push-mirror`, "--json"], env);
      expect(again.code).toBe(0);
      const rep = JSON.parse(again.stdout.trim().split("\n").pop()!);
      expect(rep.counts.copied).toBe(0);
      expect(rep.counts.deleted).toBe(0);
    });

    test("pull keeps every name's exact bytes; pull --mirror deletes extraneous ones", async () => {
      const from = join(mod, "pull-src");
      mkdirSync(from);
      writeByteNameTree(from);
      const dst = join(work, `pulled-${be}`);
      const r = await blit(["pull", `${url}/data/pull-src`, dst, "--json"], env);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(snapshot(dst)).toEqual(snapshot(from));
      writeFileSync(at(dst, b("stale", [0xff])), "extraneous\n");
      const m = await blit(["pull", "--mirror", `${url}/data/pull-src`, dst, "--json"], env);
      expect(m.stderr).toBe("");
      expect(m.code).toBe(0);
      expect(existsSync(at(dst, b("stale", [0xff])))).toBe(false);
      expect(snapshot(dst)).toEqual(snapshot(from));
    });

    test("ls lists such names escaped, not replaced", async () => {
      const r = await blit(["ls", `${url}/data/pull-src`, "--json"], env);
      expect(r.code).toBe(0);
      const names: string[] = JSON.parse(r.stdout).entries.map((e: { name: string }) => e.name);
      expect(names).toContain("a\\xffb");
      expect(names).toContain("new\\nline");
      expect(names).toContain(NAMES.cafe.toString());
      expect(r.stdout).not.toContain("\\ufffd");
    });
  });
}

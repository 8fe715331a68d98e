// blit:// URLs as users write them, and a daemon on IPv6 loopback ([::1]) serving push, pull and
// ls over both data paths.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { formatRemoteUrl, parseRemoteUrl } from "../../engine/index.ts";
import { blit, cleanup, diffR, makeTree, moduleToml, startBlitd, tempDir, type Daemon } from "./helpers.ts";

describe("blit:// URLs", () => {
  test("host, port, module and path; IPv6 in brackets; the default port", () => {
    expect(parseRemoteUrl("blit://nas.lan:9100/backup/photos/2024", { needModule: true })).toEqual({
      host: "nas.lan", port: 9100, module: "backup", path: "photos/2024", address: "nas.lan:9100", tls: false,
    });
    expect(parseRemoteUrl("blit://[::1]:9031/m", { needModule: true })).toEqual({ host: "::1", port: 9031, module: "m", path: "", address: "[::1]:9031", tls: false });
    expect(parseRemoteUrl("blits://nas:9100/m", { needModule: true })).toMatchObject({ host: "nas", port: 9100, module: "m", tls: true });
    expect(parseRemoteUrl("blit://[fe80::1%eth0]/m/x/", { needModule: true })).toMatchObject({ host: "fe80::1%eth0", port: 9031, path: "x" });
    expect(parseRemoteUrl("blit://10.0.0.2", { needModule: false })).toMatchObject({ module: "", path: "", address: "10.0.0.2:9031" });
    for (const text of ["blit://nas:9031/backup/a/b", "blit://[::1]:9031/m/deep/er", "blits://nas:9031/backup"]) {
      expect(formatRemoteUrl(parseRemoteUrl(text, { needModule: true }))).toBe(text);
    }
  });

  test("malformed URLs are refused with the reason and the expected form", () => {
    const cases: [string, string][] = [
      ["http://nas/backup", "must start with blit://"],
      ["blit://[::1:9031/m", "missing ']'"],
      ["blit://nas:0/m", "invalid port"],
      ["blit://nas:70000/m", "invalid port"],
      ["blit://nas:12ab/m", "invalid port"],
      ["blit://nas:9031", "missing module name"],
      ["blit://nas:9031/bad$module", "invalid module name"],
      ["blit://nas:9031/m/../etc", ".."],
      ["blit://[::1]x/m", "unexpected text after the host"],
    ];
    for (const [text, why] of cases) {
      let message = "";
      try {
        parseRemoteUrl(text, { needModule: true });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toContain(why);
      expect(message).toContain("expected blit://HOST:PORT/MODULE[/PATH]");
    }
  });
});

describe("a daemon on [::1]", () => {
  let work: string;
  let d: Daemon;
  beforeAll(async () => {
    work = tempDir("ipv6-");
    mkdirSync(join(work, "module"));
    makeTree(join(work, "src"), { files: 20, big: 1 << 20 });
    d = await startBlitd(work, moduleToml({ data: { path: join(work, "module"), readOnly: false } }), ["--bind", "[::1]:0"]);
  });
  afterAll(async () => {
    try {
      await d?.stop();
    } finally {
      cleanup(work);
    }
  });

  for (const mode of ["tcp", "grpc"] as const) {
    test(`push, ls and pull over ${mode}`, async () => {
      const url = `blit://[::1]:${d.port}/data/${mode}`;
      const force = mode === "grpc" ? ["--force-grpc"] : [];
      const p = await blit(["push", join(work, "src"), url, "--json", ...force]);
      expect(p.code).toBe(0);
      expect(JSON.parse(p.stdout.trim().split("\n").pop()!).transport.kind).toBe(mode);
      expect((await diffR(join(work, "src"), join(work, "module", mode))).same).toBe(true);
      const l = await blit(["ls", `blit://[::1]:${d.port}/data`]);
      expect(l.code).toBe(0);
      expect(l.stdout).toContain(`${mode}/`);
      const back = join(work, `back-${mode}`);
      const q = await blit(["pull", url, back, ...force]);
      expect(q.code).toBe(0);
      expect((await diffR(join(work, "src"), back)).same).toBe(true);
    });
  }
});

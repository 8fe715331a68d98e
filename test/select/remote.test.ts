// Selection rules travel to blitd with the request: a push's destination walk and a pull's
// source walk on the daemon apply the same include/exclude/dir-merge rules as the client, and a
// hostile request's rules are refused with a one-line error.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { filesUnder, runCli, writeTree } from "../helpers/index.ts";
import { emptyTree, normalizeOptions, runRemote } from "../../engine/index.ts";
import { blitService, encodeManifest, grpc, serverOptions } from "../../proto/index.ts";
import { blit, cleanup, moduleToml, rawClient, rpc, startBlitd, tempDir, type Daemon } from "../remote/helpers.ts";

let work: string;
let d: Daemon;
let url: string;

beforeAll(async () => {
  work = tempDir("select-");
  mkdirSync(join(work, "mod"));
  writeTree(join(work, "src"), { "main.c": "c", "notes.txt": "n", "lib/util.c": "u", "lib/util.h": "h" });
  // The module's tree for pulls: per-directory rules files, one of them a symlink to rules elsewhere.
  writeTree(join(work, "mod/pub"), { "a.txt": "a", "key.secret": "s", "sub/b.txt": "b", "sub/c.secret": "s", "odd/x.txt": "x" });
  writeFileSync(join(work, "mod/pub/.rules"), "- *.secret\n");
  writeFileSync(join(work, "outside-rules"), "+ *\n");
  symlinkSync(join(work, "outside-rules"), join(work, "mod/pub/odd/.rules"));
  d = await startBlitd(work, moduleToml({ m: { path: join(work, "mod"), readOnly: false } }));
  url = `blit://127.0.0.1:${d.port}/m`;
});

afterAll(async () => {
  await d?.stop();
  if (work) cleanup(work);
});

describe("rules reach the daemon's walk", () => {
  test("push --mirror: the daemon keeps what the rules leave out and deletes what they include", async () => {
    const dest = join(work, "mod/pushed");
    writeTree(dest, { "old.c": "gone", "keep.tmp": "excluded: must survive", "lib/old.h": "excluded too" });
    const r = await blit(["push", join(work, "src"), `${url}/pushed`, "--mirror", "--include", "*/", "--filter", "+ *.c", "--exclude", "*"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(filesUnder(dest).sort()).toEqual(["keep.tmp", "lib/old.h", "lib/util.c", "main.c"]);
  });

  test("pull: the daemon reads each directory's dir-merge file from the module", async () => {
    const dst = join(work, "pulled");
    const r = await blit(["pull", `${url}/pub`, dst, "--filter", "dir-merge .rules", "--exclude", "odd/"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(filesUnder(dst).sort()).toEqual([".rules", "a.txt", "sub/b.txt"]);
  });

  test("pull: a dir-merge file that is a symlink in the module is not read; its directory is left out with an error", async () => {
    const dst = join(work, "pulled-odd");
    const r = await blit(["pull", `${url}/pub`, dst, "--filter", ": .rules"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("odd/.rules");
    expect(existsSync(join(dst, "odd/x.txt"))).toBe(false);
    expect(existsSync(join(dst, "key.secret"))).toBe(false);
    expect(existsSync(join(dst, "a.txt"))).toBe(true);
  });

  test("check: --include and --exclude reach the daemon's walk", async () => {
    const r = await blit(["push", join(work, "src"), `${url}/checked`]);
    expect(r.code).toBe(0);
    writeFileSync(join(work, "mod/checked/extra.txt"), "x");
    writeFileSync(join(work, "mod/checked/keep.txt"), "x");
    const home = join(work, "home");
    // extra.txt is left out on both sides (equal); keep.txt is included before the exclude (extra).
    const same = await runCli(["check", join(work, "src"), `${url}/checked`, "--exclude", "extra.txt"], { home });
    expect(same.exitCode).toBe(1);
    const c = await runCli(["check", join(work, "src"), `${url}/checked`, "--include", "notes.txt", "--filter", "- *.txt", "--json"], { home });
    expect(c.stderr).toBe("");
    expect(c.exitCode).toBe(0);
    expect(JSON.parse(c.stdout).options.filter).toEqual(["+ notes.txt", "- *.txt"]);
  });
});

describe("a hostile request's rules", () => {
  const bad: [string, unknown][] = [
    ["a merge rule (files are read by the client only)", ["merge /etc/passwd"]],
    ["a dir-merge name leaving the directory", [": ../../etc/rules"]],
    ["a pattern with an unclosed class", ["- [x"]],
  ];
  for (const [name, filter] of bad) {
    test(`${name} is refused as a bad request, without a stack trace`, async () => {
      const c = rawClient(d.port, true);
      try {
        const e = await rpc(c, "Negotiate", { direction: "pull", module: "m", path: "pub", options: { dry_run: true, filter } }).then(() => undefined, (x) => x);
        expect(e).toBeDefined();
        expect(String(e.details)).toContain("rule");
        expect(String(e.details)).not.toContain("    at ");
      } finally {
        c.close();
      }
    });
  }
});

describe("a daemon older than the rules", () => {
  /** A daemon that answers every Negotiate as a blit before FEATURE_FILTER did: an empty tree, no "filter" feature. */
  async function oldDaemon(seen: unknown[]) {
    const server = new grpc.Server(serverOptions(10_000));
    const manifest = encodeManifest({ ...emptyTree(), rootExists: true, rootMode: 0o755 });
    server.addService(blitService(), {
      Negotiate: (call: { request: unknown }, cb: grpc.sendUnaryData<unknown>) => {
        seen.push(call.request);
        cb(null, { transfer_id: "x", manifest, features: ["sparse", "metadata"] });
      },
    } as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))));
    return { server, port };
  }

  test("gets plain excludes as Options.exclude; rules it would ignore make the client refuse before writing", async () => {
    const seen: any[] = [];
    const { server, port } = await oldDaemon(seen);
    try {
      const got = join(work, "from-old");
      const ok = await runRemote({ command: "copy", route: "pull", local: got, remote: `blit://127.0.0.1:${port}/m`, options: normalizeOptions({ exclude: ["*.tmp"], dryRun: true }) });
      expect(ok.report.status).toBe("ok");
      expect(seen[0].options.exclude).toEqual(["*.tmp"]);
      const refused = await runRemote({
        command: "mirror", route: "pull", local: got, remote: `blit://127.0.0.1:${port}/m`, options: normalizeOptions({ filter: ["+ *.c", "- *"] }),
      });
      expect(refused.report.status).toBe("failed");
      expect(refused.report.errors[0]!.message).toContain("older blit that knows only --exclude");
      expect(seen[1].options.exclude).toEqual([]);
      expect(existsSync(got)).toBe(false);
    } finally {
      server.forceShutdown();
    }
  }, 30_000);
});

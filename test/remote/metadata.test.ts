// Push and pull keep what `rsync -aHAXS --numeric-ids` keeps (issue 11): owners and groups
// (nobody:nogroup, and ids with no name), user.* attributes (-X), ACLs on a file and a directory
// (-A), a FIFO (--specials) and a device node (--devices), compared with rsync's own copy by
// rsync's dry run. Owners travel by name unless --numeric-ids; a daemon keeps them only in a
// module with keep_owners = true; a peer that lies about attributes gets a protocol error.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hasTool, sh, tempDirs, makeTempDir, type TempDir } from "../helpers/index.ts";
import { blit } from "../trust/helpers.ts";
import { itemizeDiff, rsyncReference } from "../trust/oracle.ts";
import { moduleToml, rawClient, rpc, startBlitd, type Daemon } from "./helpers.ts";
import { mapOwners, T_DIR, T_FILE, type Tree } from "../../engine/index.ts";
import {
  blitService, decodeManifest, encodeManifest, grpc, MAX_XATTR_LIST_BYTES, MAX_XATTR_VALUE_BYTES, serverOptions, type ManifestMsg,
} from "../../proto/index.ts";
import { normalizeOptions, runRemote } from "../../engine/index.ts";
import { gidOf, uidOf } from "../../ffi/index.ts";

const isRoot = process.getuid?.() === 0;
const NOBODY = uidOf("nobody") ?? 65534;

const temps = tempDirs();
afterEach(temps.cleanup);

let home: TempDir;
let daemon: Daemon;
/** keep_owners = true */
let keepMod: string;
/** keep_owners left out (false) */
let plainMod: string;
let url: string;
beforeAll(async () => {
  home = makeTempDir();
  keepMod = home.join("keep");
  plainMod = home.join("plain");
  mkdirSync(keepMod);
  mkdirSync(plainMod);
  daemon = await startBlitd(home.path, moduleToml({ keep: { path: keepMod, readOnly: false, keepOwners: true }, plain: { path: plainMod, readOnly: false } }));
  url = `blit://127.0.0.1:${daemon.port}`;
});
afterAll(async () => {
  try {
    await daemon?.stop();
  } finally {
    home?.remove();
  }
});

/** Everything the flags below keep, in one tree; the parts that need root only as root. */
function buildTree(root: string): void {
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, "plain.txt"), "plain\n");
  writeFileSync(join(root, "tagged"), "has xattrs\n");
  sh("setfattr", ["-n", "user.color", "-v", "blue", join(root, "tagged")]);
  sh("setfattr", ["-n", "user.binary", "-v", "0x00ff10", join(root, "tagged")]);
  mkdirSync(join(root, "tagged-dir"));
  sh("setfattr", ["-n", "user.dir", "-v", "yes", join(root, "tagged-dir")]);
  writeFileSync(join(root, "acl-file"), "nobody may write\n");
  sh("setfacl", ["-m", "u:nobody:rw,g:nogroup:r", join(root, "acl-file")]);
  mkdirSync(join(root, "acl-dir"));
  writeFileSync(join(root, "acl-dir/inside"), "in a directory with a default ACL\n");
  sh("setfacl", ["-m", "u:nobody:rwx", join(root, "acl-dir")]);
  sh("setfacl", ["-d", "-m", "u:nobody:rx", join(root, "acl-dir")]);
  sh("mkfifo", ["-m", "0640", join(root, "pipe")]);
  // Large enough to stream in chunks rather than travel in a shard: the other write path.
  writeFileSync(join(root, "large-tagged"), new Uint8Array(1 << 20).fill(7));
  sh("setfattr", ["-n", "user.size", "-v", "large", join(root, "large-tagged")]);
  sh("setfacl", ["-m", "u:nobody:r", join(root, "large-tagged")]);
  if (!isRoot) return;
  sh("chown", ["nobody:nogroup", join(root, "large-tagged")]);
  writeFileSync(join(root, "nobodys"), "owned by nobody\n");
  mkdirSync(join(root, "nobodys-dir"));
  writeFileSync(join(root, "nobodys-dir/f"), "in nobody's directory\n");
  symlinkSync("nobodys", join(root, "nobodys-link"));
  writeFileSync(join(root, "numeric"), "owned by ids with no name\n");
  writeFileSync(join(root, "setuid"), "#!/bin/sh\n", { mode: 0o755 });
  sh("chown", ["-h", "nobody:nogroup", ...["nobodys", "nobodys-dir", "nobodys-dir/f", "nobodys-link", "setuid"].map((n) => join(root, n))]);
  sh("chmod", ["4755", join(root, "setuid")]); // after the chown, which clears it
  sh("chown", ["12345:54321", join(root, "numeric")]);
  sh("mknod", ["-m", "0600", join(root, "null-like"), "c", "1", "3"]);
}

const FLAGS = ["-X", "-A", "--specials", "--devices"];
const OK = { exit: 0, errors: [], itemized: [] };

/** rsync -aHAXS --numeric-ids of src, as the reference of what blit must make. */
function reference(t: TempDir, src: string): string {
  const ref = t.join("rsync");
  rsyncReference(src, ref, { delete: false });
  return ref;
}

// These compare with rsync's own copy: without rsync they are skipped (and say so).
const RSYNC = hasTool("rsync", "the push/pull comparisons with rsync -aHAXS", "apt-get install rsync");

describe.skipIf(!RSYNC)("push keeps owners, attributes, ACLs and special files like rsync -aHAXS --numeric-ids", () => {
  for (const numeric of [true, false]) {
    test(`into a keep_owners module${numeric ? " (--numeric-ids)" : " (owners mapped by name)"}`, async () => {
      const t = temps.make();
      const src = t.join("src");
      buildTree(src);
      const id = `push-${numeric ? "numeric" : "names"}`;
      const r = await blit(t, ["push", src, `${url}/keep/${id}`, ...FLAGS, ...(numeric ? ["--numeric-ids"] : []), "--json"]);
      expect({ exit: r.exitCode, errors: r.json?.errors, itemized: itemizeDiff(reference(t, src), join(keepMod, id)) }).toEqual(OK);
      // chown before chmod: the setuid bit the source has survives the change of owner
      if (isRoot) expect(lstatSync(join(keepMod, id, "setuid")).mode & 0o7777).toBe(0o4755);
    }, 60_000);
  }

  test("a module without keep_owners gives nothing away: its files are blitd's, no device node is made, and the summary says why", async () => {
    if (!isRoot) return void console.warn("skipped: needs root (the daemon must be able to chown for the refusal to matter)");
    const t = temps.make();
    const src = t.join("src");
    buildTree(src);
    const r = await blit(t, ["push", src, `${url}/plain/p`, ...FLAGS]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain("owners and groups not kept: module 'plain' does not keep owners (keep_owners = false)");
    expect(r.stdout).toContain("device nodes not created: module 'plain' does not create device nodes (keep_owners = false)");
    expect(r.stdout).toContain("not transferred: 1 character device (--devices)");
    const dst = join(plainMod, "p");
    for (const n of ["nobodys", "nobodys-dir", "nobodys-dir/f", "nobodys-link", "numeric", "setuid"]) {
      const st = lstatSync(join(dst, n));
      expect(`${n} ${st.uid}:${st.gid}`).toBe(`${n} 0:0`);
    }
    expect(() => lstatSync(join(dst, "null-like"))).toThrow();
    // a setuid file that would belong to blitd's user (root) loses the bit
    expect(lstatSync(join(dst, "setuid")).mode & 0o7777).toBe(0o755);
    expect(r.stdout).toContain("1 setuid/setgid bit dropped: module 'plain' does not keep owners");
    // user.* attributes, ACLs and FIFOs need no trust: they are kept
    expect(sh("getfattr", ["--only-values", "-n", "user.color", join(dst, "tagged")])).toBe("blue");
    expect(sh("getfacl", ["-cp", join(dst, "acl-file")])).toContain("user:nobody:rw-");
    expect(lstatSync(join(dst, "pipe")).isFIFO()).toBe(true);
  }, 60_000);
});

describe.skipIf(!RSYNC)("pull keeps owners, attributes, ACLs and special files like rsync -aHAXS --numeric-ids", () => {
  for (const numeric of [true, false]) {
    test(`from a module${numeric ? " (--numeric-ids)" : " (owners mapped by name)"}`, async () => {
      const t = temps.make();
      const id = `pull-src-${numeric ? "numeric" : "names"}`;
      const src = join(plainMod, id); // a pull's source needs no keep_owners
      buildTree(src);
      const got = t.join("got");
      const r = await blit(t, ["pull", `${url}/plain/${id}`, got, ...FLAGS, ...(numeric ? ["--numeric-ids"] : []), "--json"]);
      expect({ exit: r.exitCode, errors: r.json?.errors, itemized: itemizeDiff(reference(t, src), got) }).toEqual(OK);
      if (isRoot) expect(lstatSync(join(got, "setuid")).mode & 0o7777).toBe(0o4755);
    }, 60_000);
  }

  test("--no-owner --no-group, without -X -A --specials: the old behaviour, and the FIFO is counted as skipped", async () => {
    const t = temps.make();
    const src = join(plainMod, "pull-plain");
    buildTree(src);
    const got = t.join("got");
    const r = await blit(t, ["pull", `${url}/plain/pull-plain`, got, "--no-owner", "--no-group", "--json"]);
    expect(r.exitCode).toBe(0);
    expect(r.json.specialsSkipped).toEqual({ fifo: 1, ...(isRoot ? { char: 1 } : {}) });
    expect(sh("getfattr", ["-d", join(got, "tagged")])).toBe("");
    if (isRoot) expect(lstatSync(join(got, "nobodys")).uid).toBe(0);
  }, 60_000);
});

describe("-X -A on files left in place: a push and a pull give them the sender's changed attributes", () => {
  const getfattr = (p: string) => sh("getfattr", ["-d", "-e", "hex", "-m", "^user\\.", "--absolute-names", p]).split("\n").filter((l) => l && !l.startsWith("#")).join("\n");
  const getfacl = (p: string) => sh("getfacl", ["-c", "-p", "-n", p]).trim();
  /** Changes attributes and ACLs of `root`'s files without touching content or mtime. */
  function retag(root: string): void {
    sh("setfattr", ["-n", "user.k", "-v", "2", join(root, "a.txt")]);
    sh("setfattr", ["-x", "user.gone", join(root, "sub/b.txt")]);
    sh("setfacl", ["-m", `u:${NOBODY}:r`, join(root, "sub/b.txt")]);
  }
  function tagged(root: string): void {
    mkdirSync(join(root, "sub"), { recursive: true });
    writeFileSync(join(root, "a.txt"), "a\n");
    writeFileSync(join(root, "sub/b.txt"), "b\n");
    sh("setfattr", ["-n", "user.k", "-v", "1", join(root, "a.txt")]);
    sh("setfattr", ["-n", "user.gone", "-v", "1", join(root, "sub/b.txt")]);
  }
  const same = (a: string, b: string) => {
    for (const f of ["a.txt", "sub/b.txt"]) {
      expect(getfattr(join(b, f))).toBe(getfattr(join(a, f)));
      expect(getfacl(join(b, f))).toBe(getfacl(join(a, f)));
    }
  };

  test("push", async () => {
    const t = temps.make();
    const src = t.join("src");
    tagged(src);
    expect((await blit(t, ["push", src, `${url}/plain/kept-push`, "-X", "-A"])).exitCode).toBe(0);
    retag(src);
    const r = await blit(t, ["push", src, `${url}/plain/kept-push`, "-X", "-A", "--json"]);
    expect(r.exitCode).toBe(0);
    expect(r.json.counts.copied).toBe(0);
    same(src, join(plainMod, "kept-push"));
  }, 60_000);

  test("pull", async () => {
    const t = temps.make();
    const src = join(plainMod, "kept-pull");
    tagged(src);
    const got = t.join("got");
    expect((await blit(t, ["pull", `${url}/plain/kept-pull`, got, "-X", "-A"])).exitCode).toBe(0);
    retag(src);
    const r = await blit(t, ["pull", `${url}/plain/kept-pull`, got, "-X", "-A", "--json"]);
    expect(r.exitCode).toBe(0);
    expect(r.json.counts.copied).toBe(0);
    same(src, got);
  }, 60_000);
});

describe("owners travel by name unless --numeric-ids", () => {
  /** A one-directory manifest (no data to send) owned by uid/gid 4242, which the sender calls 'nobody'/'nogroup'. */
  function manifest(): ManifestMsg {
    const tree: Tree = {
      paths: ["d"], types: [T_DIR], sizes: [0], modes: [0o755], mtimeSec: [1_600_000_000], mtimeNsec: [0], links: {},
      uid: [4242], gid: [4242], rootUid: 4242, rootGid: 4242,
      rootMode: 0o755, rootMtimeSec: 1_600_000_000, rootMtimeNsec: 0, rootExists: true, errors: [], staleTemps: [],
    };
    const m = encodeManifest(tree, false, { owner: true, group: true, numericIds: true });
    return { ...m, user_names: [{ id: 4242, name: "nobody" }], group_names: [{ id: 4242, name: "nogroup" }] };
  }

  test("mapOwners gives each id the local id of its name, and keeps an unknown name's number", () => {
    const { tree, names } = decodeManifest({ ...manifest(), user_names: [{ id: 4242, name: "nobody" }], group_names: [{ id: 4242, name: "no-such-group-here" }] });
    mapOwners(tree, names, false);
    expect([tree.uid?.[0], tree.gid?.[0], tree.rootUid]).toEqual([NOBODY, 4242, NOBODY]);
    const numeric = decodeManifest(manifest());
    mapOwners(numeric.tree, numeric.names, true);
    expect([numeric.tree.uid?.[0], numeric.tree.gid?.[0]]).toEqual([4242, 4242]);
  });

  test("a pushed directory owned by the sender's 'nobody' (uid 4242 there) arrives as this host's nobody; with --numeric-ids as 4242", async () => {
    if (!isRoot) return void console.warn("skipped: needs root");
    const c = rawClient(daemon.port, true);
    try {
      for (const numeric of [false, true]) {
        const path = `by-name-${numeric}`;
        const neg = await rpc(c, "Negotiate", {
          direction: "push", module: "keep", path, manifest: manifest(), features: ["metadata"],
          options: { owner: true, group: true, numeric_ids: numeric },
        });
        const done = await rpc(c, "Complete", { transfer_id: neg.transfer_id });
        expect(done.status).toBe("ok");
        const st = lstatSync(join(keepMod, path, "d"));
        expect(`${st.uid}:${st.gid}`).toBe(numeric ? "4242:4242" : `${NOBODY}:${gidOf("nogroup") ?? 4242}`);
      }
    } finally {
      c.close();
    }
  }, 30_000);
});

describe("a peer that lies about extended attributes gets a protocol error", () => {
  const tree = (): Tree => ({
    paths: ["d", "d/f"], types: [T_DIR, T_FILE], sizes: [0, 0], modes: [0o755, 0o644], mtimeSec: [0, 0], mtimeNsec: [0, 0], links: {},
    rootMode: 0o755, rootMtimeSec: 0, rootMtimeNsec: 0, rootExists: true, errors: [], staleTemps: [],
  });
  const big = new Uint8Array(MAX_XATTR_VALUE_BYTES + 1);
  const lies: [string, ManifestMsg["xattrs"]][] = [
    ["a value over 64 KiB", [{ index: 1, name: "user.big", value: big }]],
    ["more names on one entry than a file can hold", Array.from({ length: Math.ceil(MAX_XATTR_LIST_BYTES / 200) + 1 }, (_, k) => ({ index: 1, name: `user.${String(k).padStart(194, "x")}`, value: new Uint8Array(1) }))],
    ["an entry the manifest does not have", [{ index: 7, name: "user.x", value: new Uint8Array(1) }]],
    ["a name with a NUL", [{ index: 1, name: "user.a\0b", value: new Uint8Array(1) }]],
    ["an over-long name", [{ index: 1, name: `user.${"n".repeat(300)}`, value: new Uint8Array(1) }]],
    ["the same name twice", [{ index: 1, name: "user.x", value: new Uint8Array(1) }, { index: 1, name: "user.x", value: new Uint8Array(2) }]],
  ];

  test.each(lies)("decodeManifest refuses %s", (_what, xattrs) => {
    expect(() => decodeManifest({ ...encodeManifest(tree()), xattrs })).toThrow(/attribute|entry/);
  });

  test("blitd answers an oversized attribute list with INVALID_ARGUMENT and writes nothing", async () => {
    const c = rawClient(daemon.port, true);
    try {
      for (const [k, [what, xattrs]] of lies.slice(0, 2).entries()) {
        const err = await rpc(c, "Negotiate", {
          direction: "push", module: "keep", path: `liar-${k}`, manifest: { ...encodeManifest(tree()), xattrs }, options: { xattrs: true },
        }).then(() => null, (e: grpc.ServiceError) => e);
        expect([what, err?.code]).toEqual([what, grpc.status.INVALID_ARGUMENT]);
        expect(() => lstatSync(join(keepMod, `liar-${k}`))).toThrow();
      }
      // and it goes on serving
      expect((await rpc(c, "ListModules", {})).modules.length).toBe(2);
    } finally {
      c.close();
    }
  }, 30_000);

  test("a pulling client refuses a daemon's oversized attribute list (exit 2, PROTOCOL) and writes nothing", async () => {
    const t = temps.make();
    // A daemon that answers every pull with a manifest whose one file has a 64 KiB + 1 attribute.
    const server = new grpc.Server(serverOptions(10_000));
    const manifest = { ...encodeManifest(tree()), xattrs: lies[0]![1] };
    server.addService(blitService(), {
      Negotiate: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { transfer_id: "x", manifest, features: ["sparse", "metadata"] }),
    } as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))),
    );
    try {
      const got = t.join("got");
      const { report } = await runRemote({
        command: "copy", route: "pull", local: got, remote: `blit://127.0.0.1:${port}/m`, options: normalizeOptions({ xattrs: true }),
      });
      expect([report.status, report.errors.map((e) => e.code)]).toEqual(["failed", ["PROTOCOL"]]);
      expect(report.errors[0]!.message).toContain(`more than ${MAX_XATTR_VALUE_BYTES}`);
      expect(() => lstatSync(join(got, "d"))).toThrow();
    } finally {
      server.forceShutdown();
    }
  }, 30_000);
});

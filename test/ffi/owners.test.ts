// Owners and groups through bun:ffi: reading them from an fd, chown of an fd and of an entry
// without following a symlink (root), id <-> name mapping, and what this process may keep.
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import {
  applyMetadataAt, applyMetadataToNewAt, fchown, gidOf, groupName, metadataPrivileges, openRooted, ownerOf, parseIdFile,
  readMetadataAt, uidOf, userName,
} from "../../ffi/index.ts";
import { closeRootFd, isRoot, openRootFd, REPO_ROOT, sh, skipNote, tempDirs, userXattrs } from "../helpers/index.ts";

const temps = tempDirs();
afterEach(temps.cleanup);
const notRoot = skipNote(!isRoot, "chown tests", "giving files another owner needs root");
const NOBODY = Number(sh("id", ["-u", "nobody"]).trim());
const NOGROUP = Number(sh("getent", ["group", "nogroup"]).split(":")[2]);

describe("the owner of an open fd", () => {
  test("is what stat says", () => {
    const f = temps.make().join("f");
    writeFileSync(f, "");
    const fd = openSync(f, "r");
    try {
      const st = statSync(f);
      expect(ownerOf(fd)).toEqual({ uid: st.uid, gid: st.gid });
    } finally {
      closeSync(fd);
    }
  });
});

describe.skipIf(notRoot)("chown as root", () => {
  test("fchown gives an open file another user's owner and group; undefined leaves one alone", () => {
    const f = temps.make().join("f");
    writeFileSync(f, "");
    const fd = openSync(f, "r+");
    try {
      fchown(fd, NOBODY, undefined);
      expect([statSync(f).uid, statSync(f).gid]).toEqual([NOBODY, 0]);
      fchown(fd, undefined, NOGROUP);
      expect([statSync(f).uid, statSync(f).gid]).toEqual([NOBODY, NOGROUP]);
    } finally {
      closeSync(fd);
    }
  });

  test("a change of owner clears setuid, which is why the mode is set after it", () => {
    const f = temps.make().join("f");
    writeFileSync(f, "");
    chmodSync(f, 0o4755);
    const fd = openSync(f, "r+");
    try {
      fchown(fd, NOBODY, NOGROUP);
    } finally {
      closeSync(fd);
    }
    expect(statSync(f).mode & 0o7777).toBe(0o755);
  });

  test("RootedDir.chown changes a symlink itself, never its target", () => {
    const dir = temps.make().join("d");
    mkdirSync(dir);
    writeFileSync(`${dir}/target`, "");
    symlinkSync("target", `${dir}/link`);
    const root = openRooted(dir);
    try {
      root.chown("link", NOBODY, NOGROUP);
    } finally {
      root.close();
    }
    expect([lstatSync(`${dir}/link`).uid, lstatSync(`${dir}/link`).gid]).toEqual([NOBODY, NOGROUP]);
    expect([statSync(`${dir}/target`).uid, statSync(`${dir}/target`).gid]).toEqual([0, 0]);
  });

  test("readMetadataAt and applyMetadataAt carry a directory's and a symlink's owner (and attributes) in one call each", () => {
    const t = temps.make();
    const src = t.join("src");
    const dst = t.join("dst");
    for (const d of [src, dst]) {
      mkdirSync(`${d}/sub`, { recursive: true });
      symlinkSync("nowhere", `${d}/link`);
    }
    sh("chown", ["-h", `${NOBODY}:${NOGROUP}`, `${src}/sub`, `${src}/link`]);
    if (userXattrs()) sh("setfattr", ["-n", "user.dir", "-v", "1", `${src}/sub`]);
    const keep = { owner: true, group: true, xattrs: true, acls: true };
    const s = openRootFd(src);
    const d = openRootFd(dst);
    try {
      for (const name of ["sub", "link"]) {
        const meta = readMetadataAt(s, name, keep);
        expect(meta).toMatchObject({ uid: NOBODY, gid: NOGROUP });
        applyMetadataAt(d, name, meta, keep);
      }
    } finally {
      closeRootFd(s);
      closeRootFd(d);
    }
    for (const name of ["sub", "link"]) expect([lstatSync(`${dst}/${name}`).uid, lstatSync(`${dst}/${name}`).gid]).toEqual([NOBODY, NOGROUP]);
    if (userXattrs()) expect(sh("getfattr", ["-n", "user.dir", "--only-values", `${dst}/sub`])).toBe("1");
  });

  test("applyMetadataToNewAt gives a just-made symlink or FIFO away, and refuses a name someone swapped for another entry", () => {
    const dir = temps.make().join("d");
    mkdirSync(dir);
    symlinkSync("nowhere", `${dir}/link`);
    sh("mkfifo", [`${dir}/fifo`]);
    writeFileSync(`${dir}/swapped`, "not ours to give away\n");
    const fd = openRootFd(dir);
    try {
      applyMetadataToNewAt(fd, "link", "symlink", { uid: NOBODY, gid: NOGROUP });
      applyMetadataToNewAt(fd, "fifo", "fifo", { uid: NOBODY, gid: NOGROUP });
      expect(() => applyMetadataToNewAt(fd, "swapped", "symlink", { uid: NOBODY, gid: NOGROUP })).toThrow(/replaced/);
    } finally {
      closeRootFd(fd);
    }
    for (const name of ["link", "fifo"]) expect([lstatSync(`${dir}/${name}`).uid, lstatSync(`${dir}/${name}`).gid]).toEqual([NOBODY, NOGROUP]);
    expect(lstatSync(`${dir}/swapped`).uid).toBe(0);
  });
});

describe("user and group names", () => {
  test("map both ways as /etc/passwd and /etc/group say", () => {
    expect(userName(0)).toBe("root");
    expect(uidOf("root")).toBe(0);
    expect(userName(NOBODY)).toBe("nobody");
    expect(uidOf("nobody")).toBe(NOBODY);
    expect(groupName(NOGROUP)).toBe("nogroup");
    expect(gidOf("nogroup")).toBe(NOGROUP);
    expect(userName(4_000_000_000)).toBeUndefined();
    expect(gidOf("no-such-group-blit")).toBeUndefined();
  });

  test("the parser takes the first entry of a name or id and skips comments and broken lines", () => {
    const db = parseIdFile("# comment\nroot:x:0:0::/root:/bin/sh\n\nbroken\nbad:x:NaN:0\ntoor:x:0:0::/root:/bin/sh\nroot:x:7:7\n");
    expect(db.byId.get(0)).toBe("root");
    expect(db.byName.get("toor")).toBe(0);
    expect(db.byName.get("root")).toBe(0);
    expect(db.byName.has("bad")).toBe(false);
    expect(db.byId.get(7)).toBe("root");
  });
});

describe("what this process may keep", () => {
  test("root may keep owners; the answer for another user says why not", () => {
    const p = metadataPrivileges();
    expect(p.owners).toBe(isRoot);
    expect(p.reasons.owners).toBe(isRoot ? undefined : "not running as root");
    if (!isRoot) return;
    // The same question asked by a process running as nobody.
    const code = `import { metadataPrivileges } from "${REPO_ROOT}/ffi/index.ts"; console.log(JSON.stringify(metadataPrivileges()));`;
    const out = sh("setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath, "-e", code]).trim();
    expect(JSON.parse(out)).toEqual({
      owners: false, devices: false, systemXattrs: false,
      reasons: { owners: "not running as root", devices: "not running as root", systemXattrs: "not running as root" },
    });
  });
});

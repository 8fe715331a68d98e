// The manifest carries names and symlink targets as their exact bytes: a tree with names that
// are not UTF-8 round-trips exactly; lengths are limited in bytes; links whose target is not
// UTF-8 travel in target_bytes, and a peer that only reads `target` sees its display form.
// (The push and pull tests in byte-names-remote.test.ts carry them through gRPC.)
import { describe, expect, test } from "bun:test";
import { emptyTree, T_DIR, T_FILE, T_LINK, type Tree } from "../../engine/index.ts";
import { bytesOfName, nameFromBytes } from "../../ffi/index.ts";
import { decodeManifest, encodeManifest, unsafePathReason, type ManifestMsg } from "../../proto/index.ts";

const n = (...v: (number | string)[]) => nameFromBytes(Uint8Array.from(v.flatMap((x) => (typeof x === "string" ? [...Buffer.from(x)] : [x]))));

function tree(): Tree {
  const dir = n("d", 0xfe);
  return {
    ...emptyTree(),
    rootExists: true,
    paths: [n("a", 0xff, "b"), dir, `${dir}/${n(0xc3, "(")}`, "new\nline", n("l", 0xff), "\ufffd"],
    types: [T_FILE, T_DIR, T_FILE, T_FILE, T_LINK, T_FILE],
    sizes: [1, 0, 2, 3, 0, 4],
    modes: [0o644, 0o755, 0o600, 0o644, 0o777, 0o644],
    mtimeSec: [1, 2, 3, 4, 5, 6],
    mtimeNsec: [0, 0, 0, 0, 0, 0],
    links: { 4: n("..", "/", 0xe9, "t", 0xe9) },
  };
}

describe("manifest", () => {
  test("names and symlink targets that are not UTF-8 round-trip byte for byte", () => {
    const t = tree();
    const m = encodeManifest(t);
    // On the wire the paths are the bytes themselves.
    expect([...m.paths.subarray(0, 4)]).toEqual([0x61, 0xff, 0x62, 0]);
    const back = decodeManifest(m).tree;
    expect(back.paths).toEqual(t.paths);
    expect(back.paths.map((p) => [...bytesOfName(p)])).toEqual(t.paths.map((p) => [...bytesOfName(p)]));
    expect(back.links).toEqual(t.links);
  });

  test("a target that is not UTF-8 travels in target_bytes; a peer that reads only target gets its display form", () => {
    const m = encodeManifest(tree());
    const link = m.links[0]!;
    expect(link.target).toBe("../\\xe9t\\xe9");
    expect([...link.target_bytes!]).toEqual([0x2e, 0x2e, 0x2f, 0xe9, 0x74, 0xe9]);
    // A peer without target_bytes still has a valid target string (the display form).
    const old: ManifestMsg = { ...m, links: [{ index: link.index, target: link.target }] };
    expect(decodeManifest(old).tree.links[4]).toBe("../\\xe9t\\xe9");
  });

  test("lengths are measured in bytes: 255 undecodable bytes make a legal name, 256 do not", () => {
    expect(unsafePathReason("\udcff".repeat(255))).toBeUndefined();
    expect(unsafePathReason("\udcff".repeat(256))).toContain("longer than 255 bytes");
    expect(unsafePathReason("é".repeat(128))).toContain("longer than 255 bytes");
  });

  test("a NUL inside target_bytes is refused", () => {
    const m = encodeManifest(tree());
    m.links[0] = { index: 4, target: "x", target_bytes: Uint8Array.from([0x61, 0, 0x62]) };
    expect(() => decodeManifest(m)).toThrow(/invalid target/);
  });
});

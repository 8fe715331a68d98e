// The name codec: any bytes -> string -> the same bytes; valid UTF-8 decodes as usual; an
// undecodable byte b is U+DC00+b (Python's surrogateescape); display forms escape it as \xNN.
import { describe, expect, test } from "bun:test";
import { byteLengthOfName, bytesOfName, displayName, fsPath, hasEscapedBytes, nameFromBytes, namePath } from "../../ffi/index.ts";

const bytes = (...v: number[]) => new Uint8Array(v);
const codes = (s: string) => [...s].map((c) => c.charCodeAt(0));

describe("nameFromBytes / bytesOfName", () => {
  test("every single byte and every pair of bytes round-trips exactly", () => {
    for (let x = 1; x < 256; x++) expect([...bytesOfName(nameFromBytes(bytes(x)))]).toEqual([x]);
    const seen = new Set<string>();
    for (let x = 1; x < 256; x++) {
      for (let y = 1; y < 256; y++) {
        const s = nameFromBytes(bytes(x, y));
        const back = bytesOfName(s);
        if (back.length !== 2 || back[0] !== x || back[1] !== y) throw new Error(`${x},${y} came back as ${[...back]}`);
        seen.add(s);
      }
    }
    // Unambiguous: 255 * 255 different byte pairs, 255 * 255 different strings.
    expect(seen.size).toBe(255 * 255);
  });

  test("random byte strings round-trip", () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256;
    for (let k = 0; k < 5000; k++) {
      const b = new Uint8Array(1 + (k % 12)).map(() => rnd() || 0x80);
      expect([...bytesOfName(nameFromBytes(b))]).toEqual([...b]);
    }
  });

  test("valid UTF-8 decodes as usual; undecodable bytes become U+DC80..U+DCFF as Python's surrogateescape", () => {
    expect(nameFromBytes(new TextEncoder().encode("café ✓ 𝄞"))).toBe("café ✓ 𝄞");
    expect(codes(nameFromBytes(bytes(0x61, 0xff, 0x62)))).toEqual([0x61, 0xdcff, 0x62]);
    // Python: b"\xe2\x82".decode("utf-8", "surrogateescape") == "\udce2\udc82"
    expect(codes(nameFromBytes(bytes(0xe2, 0x82)))).toEqual([0xdce2, 0xdc82]);
    // An encoded surrogate (ED A0 80) and an overlong "/" (C0 AF) are not UTF-8.
    expect(codes(nameFromBytes(bytes(0xed, 0xa0, 0x80)))).toEqual([0xdced, 0xdca0, 0xdc80]);
    expect(codes(nameFromBytes(bytes(0xc0, 0xaf)))).toEqual([0xdcc0, 0xdcaf]);
    // A real U+FFFD is not an escape, and differs from the byte 0xff.
    expect(nameFromBytes(bytes(0xef, 0xbf, 0xbd))).toBe("\ufffd");
    expect(nameFromBytes(bytes(0xff))).not.toBe(nameFromBytes(bytes(0xef, 0xbf, 0xbd)));
  });

  test("a lone surrogate that cannot come from a name encodes as U+FFFD, like node:fs", () => {
    expect([...bytesOfName("a\ud800b")]).toEqual([0x61, 0xef, 0xbf, 0xbd, 0x62]);
    expect([...bytesOfName("\udc41")]).toEqual([0xef, 0xbf, 0xbd]);
  });

  test("byte lengths count the bytes on disk", () => {
    expect(byteLengthOfName("a\udcffb")).toBe(3);
    expect(byteLengthOfName("é")).toBe(2);
    expect(byteLengthOfName("\udcff".repeat(255))).toBe(255);
    expect(hasEscapedBytes("a\udcffb")).toBe(true);
    expect(hasEscapedBytes("a\ud834\udd1eb")).toBe(false);
  });
});

describe("displayName", () => {
  test("undecodable bytes as \\xNN, control characters escaped, the rest as it is", () => {
    expect(displayName(nameFromBytes(bytes(0x61, 0xff, 0x62)))).toBe("a\\xffb");
    expect(displayName("new\nline\ttab\rcr\x1besc\x7fdel")).toBe("new\\nline\\ttab\\rcr\\x1besc\\x7fdel");
    expect(displayName("café 𝄞 \ufffd")).toBe("café 𝄞 \ufffd");
    expect(displayName("x\ud800y")).toBe("x\\ud800y");
  });
});

describe("fsPath and namePath", () => {
  test("fsPath gives node:fs the exact bytes when the path holds escapes, the string otherwise", () => {
    expect(fsPath("/tmp/plain é")).toBe("/tmp/plain é");
    expect([...(fsPath("/a\udcff") as Buffer)]).toEqual([0x2f, 0x61, 0xff]);
  });

  test("namePath keeps escaped bytes where node:path would replace them", () => {
    const dir = "/tmp/d\udcfe";
    expect(namePath.join(dir, "sub", "..", "f\udc80")).toBe("/tmp/d\udcfe/f\udc80");
    expect(namePath.dirname(`${dir}/f\udc80`)).toBe(dir);
    expect(namePath.basename(`${dir}/f\udc80`)).toBe("f\udc80");
    expect(namePath.relative("/tmp", `${dir}/é\udcff`)).toBe("d\udcfe/é\udcff");
    expect(namePath.join("/a", "b/../c")).toBe("/a/c");
  });
});

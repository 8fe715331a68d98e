// Sparse files over the wire, against a real blitd on loopback: holes travel as HOLE frames
// (the peers agree on the `sparse` feature at Negotiate) and arrive as holes, on push and pull,
// over TCP and gRPC, with --checksum too; a peer that does not list the feature gets zeros as
// before; a sender whose hole would pass the manifest's size is refused and nothing is written.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { emptyTree, T_FILE, type Tree } from "../../engine/index.ts";
import {
  doneFrame, encodeFrame, encodeManifest, fileFrame, FrameDecoder, F_DATA, F_DONE, F_FILE_END, F_HELLO, F_HOLE, F_NEED,
  F_NEED_END, holeFrame, u32List,
} from "../../proto/index.ts";
import { holesUnsupported, MiB, writeSparse, type Extent } from "../helpers/index.ts";
import { blit, cleanup, moduleToml, rawClient, rpc, startBlitd, tempDir, type Daemon } from "./helpers.ts";

const SIZE = 50 * MiB;
const EXTENTS: Extent[] = [
  { offset: 0, bytes: 4096 },
  { offset: 10 * MiB, bytes: 64 << 10 },
  { offset: 30 * MiB + 512, bytes: 1000 },
];
const DATA = EXTENTS.reduce((n, e) => n + e.bytes, 0);
const noHoles = holesUnsupported(tmpdir());
if (noHoles) console.warn(`skipping the remote sparse-file tests: ${noHoles}`);

let work: string;
let mod: string;
let src: string;
let d: Daemon;
let url: string;

const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");
const json = (out: string) => JSON.parse(out.trim().split("\n").pop()!);

/** Same content, same size, and not many more blocks than the source (102,400 if filled). */
function expectSparseCopy(from: string, to: string): void {
  const a = statSync(from);
  const b = statSync(to);
  expect(b.size).toBe(a.size);
  expect(sha(to)).toBe(sha(from));
  expect(b.blocks).toBeLessThanOrEqual(a.blocks * 2 + 16);
}

function expectHoleCount(holeBytes: unknown): void {
  expect(holeBytes).toBeGreaterThanOrEqual(SIZE - DATA - 3 * 4096);
  expect(holeBytes).toBeLessThanOrEqual(SIZE - DATA);
}

beforeAll(async () => {
  if (noHoles) return;
  work = tempDir("sparse-");
  mod = join(work, "module");
  src = join(work, "src");
  mkdirSync(mod);
  writeSparse(join(src, "disk.img"), SIZE, EXTENTS);
  writeSparse(join(src, "sub/tail-hole.img"), 3 * MiB, [{ offset: 0, bytes: 300 << 10 }]);
  writeSparse(join(mod, "served/disk.img"), SIZE, EXTENTS);
  d = await startBlitd(work, moduleToml({ data: { path: mod, readOnly: false } }));
  url = `blit://127.0.0.1:${d.port}`;
});

afterAll(async () => {
  try {
    await d?.stop();
  } finally {
    if (work) cleanup(work);
  }
});

describe.skipIf(noHoles !== undefined)("sparse files over the wire", () => {
  for (const mode of ["tcp", "grpc"] as const) {
    test(`push over ${mode}: holes arrive as holes and the report counts them`, async () => {
      const r = await blit(["push", src, `${url}/data/push-${mode}`, "--json", ...(mode === "grpc" ? ["--force-grpc"] : [])]);
      expect(r.code).toBe(0);
      const rep = json(r.stdout);
      expect(rep.transport.kind).toBe(mode);
      expectSparseCopy(join(src, "disk.img"), join(mod, `push-${mode}/disk.img`));
      expectSparseCopy(join(src, "sub/tail-hole.img"), join(mod, `push-${mode}/sub/tail-hole.img`));
      expect(rep.counts.copiedBytes).toBe(SIZE + 3 * MiB);
      expect(rep.counts.holeBytes).toBeGreaterThanOrEqual(SIZE - DATA - 3 * 4096 + (3 * MiB - (300 << 10)));
    });

    test(`pull over ${mode}: holes arrive as holes and the report counts them`, async () => {
      const dst = join(work, `pulled-${mode}`);
      const r = await blit(["pull", `${url}/data/served`, dst, "--json", ...(mode === "grpc" ? ["--force-grpc"] : [])]);
      expect(r.code).toBe(0);
      const rep = json(r.stdout);
      expect(rep.transport.kind).toBe(mode);
      expectSparseCopy(join(mod, "served/disk.img"), join(dst, "disk.img"));
      expect(rep.counts.copiedBytes).toBe(SIZE);
      expectHoleCount(rep.counts.holeBytes);
    });
  }

  test("push and pull with --checksum: the hash covers the holes as zeros and matches", async () => {
    const r = await blit(["push", src, `${url}/data/push-sum`, "--checksum", "--json"]);
    expect(r.code).toBe(0);
    expectSparseCopy(join(src, "disk.img"), join(mod, "push-sum/disk.img"));
    const dst = join(work, "pulled-sum");
    const p = await blit(["pull", `${url}/data/served`, dst, "--checksum", "--json"]);
    expect(p.code).toBe(0);
    expectSparseCopy(join(mod, "served/disk.img"), join(dst, "disk.img"));
    expectHoleCount(json(p.stdout).counts.holeBytes);
  });

  test("the push summary says how much was holes", async () => {
    const r = await blit(["push", join(src, "disk.img"), `${url}/data/summary.img`]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/transferred 1 \(50\.0 MiB, 49\.9 MiB of it holes\)/);
  });

  test("a pulling peer that does not list 'sparse' gets zeros in DATA frames, as before; one that does gets HOLE frames", async () => {
    const c = rawClient(d.port);
    try {
      for (const features of [[], ["sparse"]]) {
        const neg = await rpc(c, "Negotiate", { direction: "pull", module: "data", path: "served/disk.img", features });
        expect(neg.features).toContain("sparse"); // the daemon says what it supports either way
        const got = { data: 0, holes: 0, holeFrames: 0 };
        let done!: () => void;
        const finished = new Promise<void>((r) => (done = r));
        const dec = new FrameDecoder({
          frame: (type, p) => {
            if (type === F_HOLE) {
              got.holeFrames++;
              got.holes += new DataView(p.buffer, p.byteOffset, p.length).getFloat64(0, true);
            } else if (type === F_DONE) done();
          },
          data: (chunk) => {
            got.data += chunk.length;
          },
        });
        const s = await Bun.connect({ hostname: "127.0.0.1", port: neg.data_port, socket: { data(_s, b) { dec.feed(b); }, close() { done(); }, error() {} } });
        s.write(encodeFrame(F_HELLO, neg.token));
        s.write(encodeFrame(F_NEED, u32List([0])));
        s.write(encodeFrame(F_NEED_END));
        await finished;
        s.end();
        await rpc(c, "Complete", { transfer_id: neg.transfer_id });
        if (features.length === 0) expect(got).toEqual({ data: SIZE, holes: 0, holeFrames: 0 });
        else {
          expect(got.data + got.holes).toBe(SIZE);
          expect(got.holeFrames).toBe(3); // before the 2nd and 3rd extents, and the tail
          expect(got.data).toBeLessThan(DATA + 3 * 4096);
        }
      }
    } finally {
      c.close();
    }
  });

  test("a pushing peer whose hole would pass the manifest's size is refused; nothing is written", async () => {
    const size = 1 * MiB;
    const t: Tree = { ...emptyTree(), rootExists: true, rootMode: 0o755, paths: ["liar.img"], types: [T_FILE], sizes: [size], modes: [0o644], mtimeSec: [1_700_000_000], mtimeNsec: [0] };
    const c = rawClient(d.port);
    try {
      const lies: Uint8Array[][] = [
        [holeFrame(size + 1)], // one hole past the end
        [holeFrame(size / 2), holeFrame(size / 2 + 4096)], // two that add up past it
        [encodeFrame(F_DATA, new Uint8Array(4096)), holeFrame(size)], // data, then a hole past it
        [holeFrame(-4096)],
        [holeFrame(Number.NaN)],
        [holeFrame(2 ** 60)],
      ];
      for (const [k, lie] of lies.entries()) {
        const neg = await rpc(c, "Negotiate", { direction: "push", module: "data", path: `liar-${k}`, manifest: encodeManifest(t), features: ["sparse"] });
        expect(neg.features).toContain("sparse");
        let closed = false;
        let peerSaid = "";
        const s = await Bun.connect({
          hostname: "127.0.0.1",
          port: neg.data_port,
          socket: {
            data(_s, b) {
              peerSaid += new TextDecoder().decode(b);
            },
            close() {
              closed = true;
            },
            error() {},
          },
        });
        s.write(encodeFrame(F_HELLO, neg.token));
        s.write(fileFrame(0, size));
        for (const f of lie) s.write(f);
        s.write(encodeFrame(F_FILE_END));
        s.write(doneFrame(1, 0));
        for (let w = 0; w < 50 && !closed; w++) await Bun.sleep(20);
        expect(closed).toBe(true);
        expect(peerSaid).toMatch(/hole/);
        const done = await rpc(c, "Complete", { transfer_id: neg.transfer_id });
        expect(done.status).not.toBe("ok");
        expect(existsSync(join(mod, `liar-${k}/liar.img`))).toBe(false);
        expect(readdirSync(join(mod, `liar-${k}`))).toEqual([]);
      }
    } finally {
      c.close();
    }
    expect(d.alive()).toBe(true);
  });
});

test("a HOLE frame is 8 bytes exactly: the decoder refuses any other length before the receiver sees it", () => {
  for (const n of [0, 4, 9, 16]) {
    const dec = new FrameDecoder({ frame() {}, data() {} });
    expect(() => dec.feed(encodeFrame(F_HOLE, new Uint8Array(n)))).toThrow(`frame type ${F_HOLE} has length ${n}, outside 8..8`);
  }
});

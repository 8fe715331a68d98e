// The TCP data plane on its own: a sender and a receiver joined by a real loopback connection
// (Bun sockets, the channel the daemon and the client use), with the direct socket path on Linux
// (large reads from the socket's fd, sendfile from the file).
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { emptyTree, planTrees, sendFiles, SocketChannel, TreeReceiver, walkTree, type ReceiverOptions, type SendOptions, type Tree } from "../../engine/index.ts";
import { directSocketIoAvailable, openRooted } from "../../ffi/index.ts";
import { doneFrame, FrameDecoder } from "../../proto/index.ts";
import { writeSparse } from "../helpers/index.ts";
import { tempDir } from "./helpers.ts";

let dir: string;
beforeEach(() => {
  dir = tempDir("dataplane-");
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function randomBytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(n, o + 65536)));
  return b;
}

/** A connected pair of channels over 127.0.0.1. */
async function channelPair(): Promise<{ a: SocketChannel; b: SocketChannel; close(): void }> {
  let accepted!: (ch: SocketChannel) => void;
  const got = new Promise<SocketChannel>((r) => (accepted = r));
  const handlers = {
    data(s: { data: { ch: SocketChannel } }, chunk: Uint8Array) {
      s.data.ch.onData(chunk);
    },
    drain(s: { data: { ch: SocketChannel } }) {
      s.data.ch.onDrain();
    },
    end(s: { data: { ch: SocketChannel } }) {
      s.data.ch.onEnd();
    },
    close(s: { data: { ch: SocketChannel } }, err?: Error) {
      s.data?.ch.onClose(err);
    },
  };
  const listener = Bun.listen<{ ch: SocketChannel }>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      ...handlers,
      open(s) {
        s.data = { ch: new SocketChannel(s) };
        accepted(s.data.ch);
      },
    },
  });
  const sock = await Bun.connect<{ ch: SocketChannel }>({ hostname: "127.0.0.1", port: listener.port, socket: handlers, data: undefined as never });
  const a = new SocketChannel(sock);
  sock.data = { ch: a };
  const b = await got;
  return { a, b, close: () => listener.stop(true) };
}

/** Sends `src` (its tree) over a fresh connection into `dst`; returns the receiver's summary. */
async function transfer(src: string, dst: string, tree: Tree, extra: Partial<ReceiverOptions> = {}, send: Partial<SendOptions> = {}) {
  const pair = await channelPair();
  const srcRoot = openRooted(src);
  const dstRoot = openRooted(dst);
  try {
    const plan = planTrees(tree, emptyTree(), { mirror: false, checksum: false, sizeOnly: false, ignoreTimes: false });
    const receiver = new TreeReceiver(dstRoot, tree, emptyTree(), plan, { mirror: false, checksum: false, maxDelete: -1, force: false, singleFile: false, ...extra });
    receiver.prepare();
    let pauses = 0;
    receiver.flow = { pause: () => (pauses++, pair.b.pause()), resume: () => pair.b.resume() };
    const done = new Promise<void>((r) => (receiver.onDone = r));
    const decoder = new FrameDecoder(receiver);
    pair.b.onBytes((c) => decoder.feed(c));
    const sent = await sendFiles(pair.a, srcRoot, tree, plan.need, { checksum: false, ...send });
    await pair.a.write(doneFrame(sent.files, sent.errors.length));
    await Promise.race([done, pair.b.closed]);
    expect(pair.b.failure).toBeUndefined();
    await receiver.settle();
    return { sent, summary: receiver.finish(), pauses };
  } finally {
    srcRoot.close();
    dstRoot.close();
    pair.a.destroy();
    pair.b.destroy();
    pair.close();
  }
}

test("large and small files cross a loopback connection intact (sendfile and direct reads on Linux)", async () => {
  const src = join(dir, "src");
  const dst = join(dir, "dst");
  mkdirSync(join(src, "sub"), { recursive: true });
  mkdirSync(dst);
  const files: Record<string, Uint8Array> = {
    "big.bin": randomBytes((9 << 20) + 12345), // three DATA frames, the last one partial
    "sub/mid.bin": randomBytes(300 << 10),
    "sub/empty": new Uint8Array(0),
  };
  for (let k = 0; k < 50; k++) files[`sub/s${k}.txt`] = randomBytes(100 + k * 37);
  for (const [rel, bytes] of Object.entries(files)) writeFileSync(join(src, rel), bytes);
  const tree = walkTree(src, [], "source");
  const { sent, summary } = await transfer(src, dst, tree);
  expect(sent.errors).toEqual([]);
  expect(summary.errors).toEqual([]);
  expect(summary.filesWritten).toBe(Object.keys(files).length);
  for (const [rel, bytes] of Object.entries(files)) expect(Buffer.compare(readFileSync(join(dst, rel)), Buffer.from(bytes))).toBe(0);
  if (process.platform === "linux") expect(directSocketIoAvailable()).toBe(true);
});

test("a large file that shrinks after the manifest is skipped in words, and the rest arrives", async () => {
  const src = join(dir, "src");
  const dst = join(dir, "dst");
  mkdirSync(src);
  mkdirSync(dst);
  writeFileSync(join(src, "a-shrinks.bin"), randomBytes(6 << 20));
  const keep = randomBytes(1 << 20);
  writeFileSync(join(src, "b-keeps.bin"), keep);
  const tree = walkTree(src, [], "source");
  truncateSync(join(src, "a-shrinks.bin"), 5 << 20); // the manifest still says 6 MiB
  const { sent, summary } = await transfer(src, dst, tree);
  expect(sent.errors.map((e) => e.path)).toEqual(["a-shrinks.bin"]);
  expect(sent.errors[0]!.message).toContain("changed size");
  expect(summary.errors.map((e) => [e.path, e.code])).toEqual([["a-shrinks.bin", "SOURCE_READ"]]);
  // nothing under the final name, no temporary left; the other file is whole
  expect(readdirSync(dst).sort()).toEqual(["b-keeps.bin"]);
  expect(Buffer.compare(readFileSync(join(dst, "b-keeps.bin")), Buffer.from(keep))).toBe(0);
});

test("a sparse file cut short inside a hole after the manifest is skipped, not filled with zeros", async () => {
  const src = join(dir, "src");
  const dst = join(dir, "dst");
  mkdirSync(dst);
  writeSparse(join(src, "cut.img"), 16 << 20, [{ offset: 0, bytes: 4096 }, { offset: 4 << 20, bytes: 4096 }]);
  const tree = walkTree(src, [], "source");
  truncateSync(join(src, "cut.img"), 8 << 20); // the manifest still says 16 MiB; what is gone was a hole
  const { sent, summary } = await transfer(src, dst, tree, {}, { sparse: true });
  expect(sent.errors.map((e) => [e.path, e.code])).toEqual([["cut.img", "SHRUNK"]]);
  expect(summary.errors.map((e) => [e.path, e.code])).toEqual([["cut.img", "SOURCE_READ"]]);
  expect(readdirSync(dst)).toEqual([]);
});

test("many small files through the writer threads, with the data paused while they catch up, or on one thread", async () => {
  const src = join(dir, "src");
  mkdirSync(src);
  const files: Record<string, Uint8Array> = {};
  for (let d = 0; d < 8; d++) {
    mkdirSync(join(src, `d${d}`));
    for (let k = 0; k < 250; k++) files[`d${d}/f${k}`] = randomBytes(1000 + ((k * 131) % 7000));
  }
  for (const [rel, bytes] of Object.entries(files)) writeFileSync(join(src, rel), bytes);
  const tree = walkTree(src, [], "source");
  for (const [label, extra] of [["writers", { maxPendingBytes: 64 << 10 }], ["one thread", { writers: null }]] as const) {
    const dst = join(dir, `dst-${label}`);
    mkdirSync(dst);
    const { summary, pauses } = await transfer(src, dst, tree, extra);
    expect(summary.errors).toEqual([]);
    expect(summary.filesWritten).toBe(2000);
    for (const [rel, bytes] of Object.entries(files)) expect(Buffer.compare(readFileSync(join(dst, rel)), Buffer.from(bytes))).toBe(0);
    // no temporary left behind
    for (let d = 0; d < 8; d++) expect(readdirSync(join(dst, `d${d}`)).length).toBe(250);
    if (label === "writers" && process.platform === "linux") expect(pauses).toBeGreaterThan(0);
  }
});

// Malformed requests get a clear answer naming what is wrong (escaped), never INTERNAL with a
// stack trace: manifest paths that are not UTF-8 (accepted as the bytes they are, or refused
// with the bytes shown as \xff when unsafe), request path fields that are not UTF-8 (refused in
// words instead of silently becoming U+FFFD), and a module whose directory has gone. A raw
// client sends the crafted protobuf bytes.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { grpc } from "../../proto/index.ts";
import { cleanup, moduleToml, startBlitd, tempDir, type Daemon } from "./helpers.ts";

let work: string;
let mod: string;
let gone: string;
let d: Daemon;
let client: grpc.Client & Record<string, any>;

// Protobuf by hand: only length-delimited fields and varints are needed.
const varint = (n: number): number[] => {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n >>>= 7;
  }
  out.push(n);
  return out;
};
const field = (no: number, bytes: ArrayLike<number>): number[] => [...varint((no << 3) | 2), ...varint(bytes.length), ...Array.from(bytes)];
const flag = (no: number): number[] => [...varint(no << 3), 1];
const utf8 = (s: string): number[] => [...Buffer.from(s)];
const f64 = (x: number): number[] => [...new Uint8Array(new Float64Array([x]).buffer)];

/** A one-file Manifest message whose path is `pathBytes` as they are. */
function manifest(pathBytes: number[]): number[] {
  return [...varint(1 << 3), 1, ...field(2, pathBytes), ...field(3, [1]), ...field(4, f64(5)), ...field(5, [0xa4, 0x01]), ...field(6, f64(1.7e9)), ...field(7, [0, 0, 0, 0])];
}

function negotiate(direction: string, module: number[], path: number[], extra: number[] = []): number[] {
  return [...field(1, utf8(direction)), ...field(2, module), ...field(3, path), ...extra];
}

/** Sends raw request bytes to `method`; resolves with the status (0 when it succeeded) and details. */
function call(method: string, bytes: number[]): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    client[method](Buffer.from(bytes), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null) => {
      resolve(err ? { code: err.code, details: err.details } : { code: 0, details: "" });
    });
  });
}

beforeAll(async () => {
  work = tempDir("bad-requests-");
  mod = join(work, "module");
  gone = join(work, "gone");
  mkdirSync(mod);
  mkdirSync(gone);
  d = await startBlitd(work, moduleToml({ data: { path: mod, readOnly: false }, gone: { path: gone } }));
  const raw = (path: string) => ({
    path, requestStream: false, responseStream: false,
    requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
  });
  const Raw = grpc.makeGenericClientConstructor({ Negotiate: raw("/blit.v1.Blit/Negotiate"), ListDir: raw("/blit.v1.Blit/ListDir") } as never, "Blit");
  client = new Raw(`127.0.0.1:${d.port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, any>;
});

afterAll(async () => {
  try {
    client?.close();
    await d?.stop();
  } finally {
    cleanup(work);
  }
});

const noStack = (details: string) => expect(details).not.toMatch(/\n\s+at |\.ts:\d+/);

test("a manifest path that is not UTF-8 and unsafe is refused naming it, bytes escaped", async () => {
  const r = await call("Negotiate", negotiate("push", utf8("data"), utf8("t"), field(5, manifest([0x61, 0xff, 0x2f, 0x2e, 0x2e, 0x2f, 0x78]))));
  expect(r.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(r.details).toContain("a\\xff/../x");
  noStack(r.details);
  expect(readdirSync(mod)).toEqual([]);
});

test("a manifest path that is not UTF-8 but safe is accepted as its bytes (dry run)", async () => {
  const r = await call("Negotiate", negotiate("push", utf8("data"), utf8("t"), [...field(4, flag(7)), ...field(5, manifest([0x61, 0xff]))]));
  expect(r).toEqual({ code: 0, details: "" });
});

test("a remote path field that is not UTF-8 is refused in words, and nothing is created", async () => {
  for (const direction of ["push", "pull"]) {
    const r = await call("Negotiate", negotiate(direction, utf8("data"), [0x64, 0x2f, 0xff], field(5, manifest([0x61]))));
    expect({ direction, code: r.code }).toEqual({ direction, code: grpc.status.INVALID_ARGUMENT });
    expect(r.details).toContain("not valid UTF-8");
    noStack(r.details);
  }
  const ls = await call("ListDir", [...field(1, utf8("data")), ...field(2, [0x64, 0xff])]);
  expect(ls.code).toBe(grpc.status.INVALID_ARGUMENT);
  expect(ls.details).toContain("not valid UTF-8");
  expect(readdirSync(mod)).toEqual([]);
});

test("a module whose directory has gone is said so, without its path or a stack", async () => {
  rmSync(gone, { recursive: true, force: true });
  for (const r of [
    await call("ListDir", [...field(1, utf8("gone"))]),
    await call("Negotiate", negotiate("pull", utf8("gone"), utf8(""))),
  ]) {
    expect(r.code).toBe(grpc.status.INTERNAL);
    expect(r.details).toContain("module 'gone' is not available");
    expect(r.details).not.toContain(work);
    noStack(r.details);
  }
});

test("bytes that are not a protobuf message are answered INVALID_ARGUMENT in words (not INTERNAL)", async () => {
  for (const [method, bytes] of [
    ["Negotiate", [0xff, 0xff, 0x01, 0x02]],
    ["Negotiate", [...field(1, utf8("push")), ...field(5, [0xff, 0xff, 0xff])]],
    ["ListDir", [0xff, 0xff, 0x01, 0x02]],
  ] as [string, number[]][]) {
    const r = await call(method, bytes);
    expect({ method, code: r.code }).toEqual({ method, code: grpc.status.INVALID_ARGUMENT });
    expect(r.details).toContain("not a valid protobuf message");
    noStack(r.details);
  }
});

#!/usr/bin/env bun
// A client of manifests.test.ts, run as its own process so that building and sending a large
// manifest never stalls the test's own event loop (which times another client's calls): sends
// one Negotiate push (dry run) of ENTRIES synthetic entries to blit://127.0.0.1:PORT/MODULE/PATH
// and prints {ok, code, details, ms} as JSON. Usage: big-manifest-client.ts PORT MODULE PATH ENTRIES
import { emptyTree, T_DIR, T_FILE, type Tree } from "../../engine/index.ts";
import { encodeManifest, grpc } from "../../proto/index.ts";
import { rawClient } from "./helpers.ts";


const [port, module, path, entries] = process.argv.slice(2);
const n = Number(entries);

/** n entries: directories of 1000 entries each, each directory before its files. */
function bigTree(n: number): Tree {
  const paths: string[] = [];
  const types = new Uint8Array(n);
  let i = 0;
  for (let d = 0; i < n; d++) {
    const dir = `dir${String(d).padStart(5, "0")}`;
    paths.push(dir);
    types[i++] = T_DIR;
    for (let f = 0; f < 999 && i < n; f++) {
      paths.push(`${dir}/file-${String(f).padStart(6, "0")}.dat`);
      types[i++] = T_FILE;
    }
  }
  return {
    ...emptyTree(), rootExists: true, rootMode: 0o755, paths, types, sizes: new Float64Array(n), modes: new Uint16Array(n).fill(0o644),
    mtimeSec: new Float64Array(n).fill(1_700_000_000), mtimeNsec: new Uint32Array(n),
  };
}

const manifest = encodeManifest(bigTree(n));
const c = rawClient(Number(port), true);
const t0 = performance.now();
c.Negotiate({ direction: "push", module, path, manifest, options: { dry_run: true } }, new grpc.Metadata(), { deadline: Date.now() + 120_000 }, (err: grpc.ServiceError | null, res: any) => {
  const ms = performance.now() - t0;
  process.stdout.write(`${JSON.stringify(err ? { ok: false, code: err.code, details: err.details, ms } : { ok: true, need: res.need.length / 4, ms })}\n`);
  c.close();
  process.exit(0);
});

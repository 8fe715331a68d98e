// Negotiate of a pull: the source in the module is walked (and its attributes read when asked)
// and sent back as a manifest; the client then asks for the files it needs over the data plane.
import { readTreeXattrs } from "../../engine/index.ts";
import { encodeManifest, FEATURES } from "../../proto/index.ts";
import { openPullSource, Transfer } from "../transfers.ts";
import { registerTransfer, wireErrors, type RpcContext } from "./context.ts";
import type { NegotiateRequest } from "./negotiate.ts";

export function negotiatePull(ctx: RpcContext, { mod, path, opts, peer, modFd }: NegotiateRequest) {
  const tWalk = performance.now();
  const source = openPullSource(modFd, path, opts.exclude);
  let xattrs;
  if (opts.xattrSel) {
    const read = readTreeXattrs(source.rootFd, source.tree, opts.xattrSel, (e) => source.tree.errors.push(e));
    xattrs = { xattrs: read.xattrs, rootXattrs: source.singleFile ? undefined : read.root };
  }
  const walkMs = performance.now() - tWalk;
  const manifest = encodeManifest(source.tree, source.singleFile, {
    hardLinks: opts.hardLinks, owner: opts.owner, group: opts.group, numericIds: opts.numericIds, ...xattrs,
  });
  const t = new Transfer("pull", mod, path, source.rootFd, source.tree, source.tree, undefined, opts, source.singleFile, peer, ctx.transferEnv);
  const reply = {
    transfer_id: t.id, need: new Uint8Array(0), checks: [], data_port: 0, token: new Uint8Array(0), manifest,
    errors: wireErrors(source.tree.errors.slice(0, 100)),
    error_count: source.tree.errors.length, walk_ms: walkMs, features: FEATURES,
  };
  return registerTransfer(ctx, t, reply, opts.dryRun);
}

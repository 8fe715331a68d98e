// Negotiate of a pull: the source in the module is walked (and its attributes read when asked)
// and sent back as a manifest; the client then asks for the files it needs over the data plane.
import { readTreeXattrs, type Tree } from "../../engine/index.ts";

import { encodeManifest, FEATURES, type ManifestMsg } from "../../proto/index.ts";
import { openPullSource, Transfer } from "../transfers.ts";
import { registerTransfer, wireErrors, type RpcContext } from "./context.ts";
import type { NegotiateRequest } from "./negotiate.ts";

export async function negotiatePull(ctx: RpcContext, { mod, path, opts, peer, modRoot }: NegotiateRequest) {
  const tWalk = performance.now();
  const source = openPullSource(modRoot, path);
  const extras = { hardLinks: opts.hardLinks, owner: opts.owner, group: opts.group, numericIds: opts.numericIds };
  let tree: Tree;
  let manifest: ManifestMsg;
  if (source.tree) {
    // One file: nothing to walk.
    tree = source.tree;
    const xattrs = opts.xattrSel ? { xattrs: readTreeXattrs(source.root, tree, opts.xattrSel, (e) => tree.errors.push(e)).xattrs } : {};
    manifest = encodeManifest(tree, true, { ...extras, ...xattrs });
  } else {
    try {
      // The walk, the attributes and the manifest of a tree run on a worker thread (seconds for
      // millions of entries), so the event loop keeps answering other clients.
      ({ tree, manifest } = await ctx.workers.source(source.root.handoff(), opts.filter, { inodes: true, xattrSel: opts.xattrSel, extras }));
    } catch (err) {
      source.root.close();
      throw err;
    }
  }
  const walkMs = performance.now() - tWalk;
  const singleFile = !!source.tree;
  const t = new Transfer("pull", mod, path, source.root, tree, tree, undefined, opts, singleFile, peer, ctx.transferEnv);
  const reply = {
    transfer_id: t.id, need: new Uint8Array(0), checks: [], data_port: 0, token: new Uint8Array(0), manifest,
    errors: wireErrors(tree.errors.slice(0, 100)),
    error_count: tree.errors.length, walk_ms: walkMs, features: FEATURES,
  };
  return registerTransfer(ctx, t, reply, opts.dryRun);
}

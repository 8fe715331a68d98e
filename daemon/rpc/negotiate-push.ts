// Negotiate of a push: the client's manifest is decoded and checked, the target in the module
// walked, and the plan made (all on worker threads); the reply says which files the daemon needs.
import { displayName, type RootHandoff } from "../../ffi/index.ts";
import { basisOrder, emptyTree, findPartial, sweepPartials, type Plan, type Tree } from "../../engine/index.ts";
import { FEATURES, u32List } from "../../proto/index.ts";
import type { ModuleConfig } from "../config.ts";
import { openPushTarget, singleDstTree, Transfer } from "../transfers.ts";
import { registerTransfer, wireErrors, type RpcContext } from "./context.ts";
import type { NegotiateRequest } from "./negotiate.ts";

export async function negotiatePush(ctx: RpcContext, { mod, path, opts, peer, modRoot, req }: NegotiateRequest) {
  const tWalk = performance.now();
  const keepOwners = opts.owner || opts.group;
  // Decoding, walking, planning and hashing run on worker threads: a manifest of millions of
  // entries takes seconds, and the event loop must keep answering other clients meanwhile.
  const { tree: src, singleFile, setIdsCleared } = await ctx.workers.decodeManifest(req.manifest, {
    mapOwners: keepOwners ? { numericIds: opts.numericIds } : undefined,
    clearSetIds: !keepOwners,
  });
  if (!keepOwners) noteSetIdsDropped(setIdsCleared, mod, opts.notKept);
  const target = openPushTarget(modRoot, path, singleFile ? src.paths[0]! : undefined, opts.dryRun);
  let dst: Tree;
  let plan: Plan;
  let hashes: (Uint8Array | null)[];
  try {
    let dstSide: { fd: RootHandoff; rules: string[] } | { tree: Tree };
    if (singleFile) {
      src.paths[0] = target.name!;
      const one = singleDstTree(target.root!, target.name!);
      // One file walks nothing: a part a broken push kept is looked for by name.
      const kept = opts.resume ? findPartial(target.root!, "", target.name!) : undefined;
      if (kept) one.staleTemps.push(kept);
      dstSide = { tree: one };
    } else if (!target.root) dstSide = { tree: emptyTree() }; // a dry run into a directory not made yet
    else dstSide = { fd: target.root.handoff(), rules: opts.filter };
    ({ dst, plan, hashes } = await ctx.workers.plan(src, dstSide, opts, opts.checksum && target.root ? target.root.handoff() : undefined));
  } catch (err) {
    target.root?.close();
    throw err;
  }
  const walkMs = performance.now() - tWalk;
  // Parts broken pushes kept more than a day ago go; younger ones wait for the push that resumes them.
  if (target.root && !opts.dryRun && dst.staleTemps.length) sweepPartials(target.root, dst.staleTemps);
  const checks = plan.checkDst.map((_, k) => ({ index: plan.checks[k]!, hash: hashes[k] ?? new Uint8Array(0) }));
  const t = new Transfer("push", mod, path, target.root, src, dst, plan, opts, singleFile, peer, ctx.transferEnv);
  const reply = {
    transfer_id: t.id,
    need: u32List(plan.need),
    basis: u32List(basisOrder(plan)),
    checks: opts.checksum ? checks : [],
    data_port: 0,
    token: new Uint8Array(0),
    delete_planned: plan.deletePlanned,
    dirs_to_create: plan.mkdirs.length,
    links_to_create: plan.links.length,
    skipped: plan.skipped,
    skipped_bytes: plan.skippedBytes,
    errors: wireErrors(plan.errors.slice(0, 100)),
    error_count: plan.errors.length,
    walk_ms: walkMs,
    delete_paths: opts.dryRun ? plan.extraneousTop.slice(0, 10_000).map((j) => displayName(dst.paths[j]!)) : [],
    features: FEATURES,
    specials_skipped: plan.specialsSkipped,
    not_kept: opts.notKept,
  };
  return registerTransfer(ctx, t, reply, opts.dryRun);
}

/**
 * A push whose owners are not kept makes files that belong to blitd's user (root, often): a
 * setuid or setgid bit from the client would make them run as that user, so the decode drops it
 * from everything but directories (where setgid only passes the group on), and the reply says so.
 */
function noteSetIdsDropped(dropped: number, mod: ModuleConfig, notKept: Record<string, string>): void {
  const why = mod.keepOwners ? "owners were not asked for" : `module '${mod.name}' does not keep owners`;
  if (dropped) notKept.setid = `${dropped} setuid/setgid bit${dropped === 1 ? "" : "s"} dropped: ${why}, and the files belong to blitd's user`;
}

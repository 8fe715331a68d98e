// Negotiate of a push: the client's manifest is decoded and checked, the target in the module
// walked, and the plan made; the reply says which files the daemon needs.
import { displayName, closeFd } from "../../ffi/index.ts";
import { mapOwners, planTrees, T_DIR, hashBeneath, type Tree } from "../../engine/index.ts";
import { decodeManifest, FEATURES, u32List } from "../../proto/index.ts";
import type { ModuleConfig } from "../config.ts";
import { openPushTarget, singleDstTree, Transfer, walkFd } from "../transfers.ts";
import { registerTransfer, wireErrors, type RpcContext } from "./context.ts";
import type { NegotiateRequest } from "./negotiate.ts";

export function negotiatePush(ctx: RpcContext, { mod, path, opts, peer, modFd, req }: NegotiateRequest) {
  const tWalk = performance.now();
  const { tree: src, singleFile, names } = decodeManifest(req.manifest);
  if (opts.owner || opts.group) mapOwners(src, names, opts.numericIds);
  else dropSetIds(src, mod, opts.notKept);
  const target = openPushTarget(modFd, path, singleFile ? src.paths[0]! : undefined);
  let dst: Tree;
  try {
    if (singleFile) {
      src.paths[0] = target.name!;
      dst = singleDstTree(target.rootFd, target.name!);
    } else dst = walkFd(target.rootFd, opts.exclude);
  } catch (err) {
    closeFd(target.rootFd);
    throw err;
  }
  const plan = planTrees(src, dst, opts);
  const walkMs = performance.now() - tWalk;
  const checks = opts.checksum
    ? plan.checkDst.map((j, k) => ({ index: plan.checks[k]!, hash: hashBeneath(target.rootFd, dst.paths[j]!) ?? new Uint8Array(0) }))
    : [];
  const t = new Transfer("push", mod, path, target.rootFd, src, dst, plan, opts, singleFile, peer, ctx.transferEnv);
  const reply = {
    transfer_id: t.id,
    need: u32List(plan.need),
    checks,
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
 * setuid or setgid bit from the client would make them run as that user, so it is dropped from
 * everything but directories (where setgid only passes the group on), and the reply says so.
 */
function dropSetIds(src: Tree, mod: ModuleConfig, notKept: Record<string, string>): void {
  let dropped = 0;
  const modes = src.modes as Uint16Array;
  for (let i = 0; i < modes.length; i++) {
    if (src.types[i] === T_DIR || !(modes[i]! & 0o6000)) continue;
    modes[i] = modes[i]! & ~0o6000;
    dropped++;
  }
  const why = mod.keepOwners ? "owners were not asked for" : `module '${mod.name}' does not keep owners`;
  if (dropped) notKept.setid = `${dropped} setuid/setgid bit${dropped === 1 ? "" : "s"} dropped: ${why}, and the files belong to blitd's user`;
}

// A pull: Negotiate returns the daemon's manifest (every path checked), the destination is walked
// and planned here, the files needed arrive over the data plane into temporaries the receiver
// renames into place, then Complete; deletes (--mirror) only after a complete transfer.
import {
  backend, metadataPrivileges, nameFs, namePath, openRooted, TEMP_PREFIX, type RootedDir,
} from "../../ffi/index.ts";
import {
  decodeManifest, encodeFrame, F_BASIS, F_CHECK, F_HELLO, F_NEED, F_NEED_END, FEATURE_DELTA, FEATURE_METADATA, FEATURES, FrameDecoder, HASH_BYTES,
  peerFeatures, printable, u32List,
} from "../../proto/index.ts";
import { UsageError } from "../errors.ts";
import type { Progress } from "../run.ts";
import { planTrees, type Plan } from "../plan.ts";
import { removeEntryAt } from "../dest-tree.ts";
import { hashBeneath, TreeReceiver, type ReceiveSummary } from "./receive.ts";
import { mapOwners } from "./metadata.ts";
import { VERSION } from "../version.ts";
import { emptyTree, T_FILE, walkTree, type Tree } from "../walk.ts";
import { StallWatch } from "./stall-watch.ts";
import { countedChannel } from "./channel.ts";
import { adoptCrashTemps, findPartial, isPartialName, sweepPartials } from "./delta.ts";
import { selectionRules } from "../options.ts";
import { asksMetadata, deltaWanted, LOST_ADVICE, lostWords, requireFilterFeature, stallMessage, OLD_PEER, openChannel, wireOptions, xattrSelection, type RemoteHooks, type RemoteSession } from "./session.ts";
const { existsSync, mkdirSync, statSync } = nameFs;
const { basename, dirname } = namePath;

/** Runs the pull of session `s`; failures throw (the caller records them as the run's error). */
export async function pull(s: RemoteSession, hooks: RemoteHooks): Promise<void> {
  const { job, u, client, md, local, counts, notes, actions, timing, addError, fatal } = s;
  const opts = job.options;
  const tNeg = performance.now();
  const reply = await s.call<any>("Negotiate", {
    direction: "pull", module: u.module, path: u.path, client_version: VERSION, features: FEATURES,
    options: wireOptions(job, u),
  }, "negotiating (Negotiate)");
  timing.negotiateMs = performance.now() - tNeg;
  requireFilterFeature(opts, reply.features, u);
  const decoded = decodeManifest(reply.manifest);
  s.src = decoded.tree;
  if (opts.owner || opts.group) mapOwners(s.src, decoded.names, !!opts.numericIds);
  if (asksMetadata(opts) && !peerFeatures(reply.features).has(FEATURE_METADATA)) notes.metadata = `the daemon ${OLD_PEER}`;
  // Left out by this process's privileges, not by a flag: say so (as root with --no-owner, nothing).
  const ownersWhy = !opts.owner && !opts.group ? metadataPrivileges().reasons.owners : undefined;
  if (ownersWhy) notes.owners = ownersWhy;
  for (const e of reply.errors ?? []) addError({ path: printable(String(e.path)), side: "source", code: String(e.code), message: printable(String(e.message)) });
  s.errorCount += Math.max(0, (reply.error_count ?? 0) - (reply.errors?.length ?? 0));
  const tEnum = performance.now();
  // Where the files go: DST itself, or for one file DST/name when DST is a directory, else DST.
  let rootPath = local;
  if (decoded.singleFile) {
    if (existsSync(local) && statSync(local).isDirectory()) rootPath = local;
    else {
      rootPath = dirname(local);
      if (!existsSync(rootPath)) throw new UsageError("DEST_PARENT_MISSING", `destination directory '${dirname(job.local)}' does not exist; create it first`);
      s.src.paths[0] = basename(local);
    }
  } else if (!opts.dryRun) mkdirSync(local, { recursive: true });
  let dst: Tree;
  // The destination root, held open from the walk to the last write: one directory throughout.
  let dstRoot: RootedDir | undefined;
  if (!existsSync(rootPath)) dst = emptyTree();
  else if (decoded.singleFile) {
    dst = emptyTree();
    try {
      const st = backend().lstat(`${rootPath}/${s.src.paths[0]}`);
      if (st.type !== "file") throw new UsageError("DEST_NOT_FILE", `destination '${rootPath}/${s.src.paths[0]}' exists and is not a regular file`);
      dst = { ...dst, rootExists: true, paths: [s.src.paths[0]!], types: [T_FILE], sizes: [st.size], modes: [st.mode], mtimeSec: [st.mtimeSec], mtimeNsec: [st.mtimeNsec] };
    } catch (err) {
      if (err instanceof UsageError) throw err;
    }
    // One file walks nothing: a part a broken pull kept (or a killed one left) is looked for by name.
    if (peerFeatures(reply.features).has(FEATURE_DELTA) && !opts.dryRun) {
      const one = openRooted(rootPath);
      try {
        // What a killed pull of this name was writing (.blit-tmp-<random>-NAME) becomes its part first.
        const name = s.src.paths[0]!;
        const left = one.names().filter((n) => n.startsWith(TEMP_PREFIX) && !isPartialName(n) && n.endsWith(`-${name}`));
        if (left.length) adoptCrashTemps(one, left);
        const kept = findPartial(one, "", name);
        if (kept) dst.staleTemps = [kept];
        for (const n of left) removeStale(one, n); // what was not adopted (best effort: adopted ones are gone)
      } finally {
        one.close();
      }
    }
  } else {
    dstRoot = openRooted(rootPath);
    dst = walkTree(dstRoot.handoff(), selectionRules(opts), "destination");
    // What a killed earlier pull was writing becomes the part it resumes from (our destination: nobody else writes there).
    if (!opts.dryRun && dst.staleTemps.length) dst.staleTemps = adoptCrashTemps(dstRoot, dst.staleTemps);
  }
  timing.enumerateMs = performance.now() - tEnum;
  const tPlan = performance.now();
  const plan: Plan = planTrees(s.src, dst, {
    mirror: job.command === "mirror", checksum: opts.checksum, sizeOnly: opts.sizeOnly, ignoreTimes: opts.ignoreTimes, hardLinks: opts.hardLinks,
    specials: opts.specials, devices: opts.devices,
    // A daemon that sends KEEP against our blocks: changed files as deltas, broken ones resumed.
    ...(peerFeatures(reply.features).has(FEATURE_DELTA) ? { delta: deltaWanted(job, u), resume: true } : {}),
  });
  s.specialsSkipped = plan.specialsSkipped;
  counts.planned = plan.need.length + plan.checks.length + plan.links.length + plan.hardLinks.length + plan.specials.length;
  for (const i of plan.need) counts.plannedBytes += s.src.sizes[i]!;
  counts.skipped = plan.skipped;
  counts.skippedBytes = plan.skippedBytes;
  counts.deletePlanned = plan.deletePlanned;
  timing.planMs = performance.now() - tPlan;
  if (opts.dryRun) {
    for (const e of plan.errors) addError(e);
    for (const i of plan.mkdirs) actions.push({ kind: "mkdir", path: s.src.paths[i]! });
    for (const i of plan.links) actions.push({ kind: "link", path: s.src.paths[i]! });
    for (const i of plan.need) actions.push({ kind: "copy", path: s.src.paths[i]!, bytes: s.src.sizes[i]! });
    for (const i of plan.checks) actions.push({ kind: "copy", path: s.src.paths[i]!, bytes: s.src.sizes[i]! });
    for (const j of plan.replace) actions.push({ kind: "replace", path: dst.paths[j]! });
    for (const j of plan.extraneousTop) actions.push({ kind: "delete", path: dst.paths[j]! });
    dstRoot?.close();
    return;
  }
  const root = dstRoot ?? openRooted(rootPath);
  let summary: ReceiveSummary | undefined;
  let dataFailed = false;
  try {
    // Temporaries a killed earlier pull left in our destination are ours to remove.
    // (Parts an interrupted pull kept stay for a day, for the pull that resumes them.)
    const partials = new Set(sweepPartials(root, dst.staleTemps));
    for (const rel of dst.staleTemps) if (!partials.has(rel)) removeStale(root, rel);
    const receiver = new TreeReceiver(root, s.src, dst, plan, {
      mirror: job.command === "mirror", checksum: opts.checksum, maxDelete: opts.maxDelete, force: opts.force, singleFile: decoded.singleFile,
      keep: opts.owner || opts.group || opts.xattrs || opts.acls ? { owner: opts.owner, group: opts.group, xattrs: xattrSelection(opts) } : undefined,
    });
    receiver.prepare();
    const tData = performance.now();
    if (plan.need.length + plan.checks.length > 0) {
      const ch = countedChannel(await openChannel(client, md, u, reply.data_port ?? 0, !!job.forceGrpc, notes), s.wire);
      s.transport = ch.kind;
      const progress: Progress = { phase: "transfer", filesDone: 0, bytesDone: 0, filesTotal: plan.need.length, bytesTotal: counts.plannedBytes };
      const dec = new FrameDecoder({
        frame: (t, p) => {
          receiver.frame(t, p);
          if (t !== 21) {
            progress.filesDone = receiver.summary.filesWritten;
            progress.bytesDone = receiver.summary.bytesWritten;
            hooks.onProgress?.({ ...progress });
          }
        },
        data: (c) => receiver.data(c),
      });
      let frameError: string | undefined;
      // Progress is bytes arriving; while our own writers hold the data back, the wait is ours.
      const phase = s.limit("receiving data");
      const watch = new StallWatch(s.timeout, () => ch.destroy(stallMessage(u, phase)));
      receiver.flow = {
        pause: () => {
          watch.hold(true);
          ch.pause();
        },
        resume: () => {
          watch.hold(false);
          ch.resume();
        },
      };
      ch.onBytes((c) => {
        watch.touch();
        try {
          dec.feed(c);
        } catch (err) {
          frameError = (err as Error).message;
          throw err;
        }
      });
      const offInterrupt = s.onInterrupt(() => ch.destroy("interrupted"));
      try {
        await ch.write(encodeFrame(F_HELLO, reply.token));
        for (let k = 0; k < plan.need.length; k += 65536) await ch.write(encodeFrame(F_NEED, u32List(plan.need.slice(k, k + 65536))));
        if (plan.checks.length) {
          const per = 4 + HASH_BYTES;
          for (let k = 0; k < plan.checks.length; k += 8192) {
            const part = plan.checks.slice(k, k + 8192);
            const buf = new Uint8Array(part.length * per);
            const dv = new DataView(buf.buffer);
            part.forEach((i, n) => {
              dv.setUint32(n * per, i, true);
              const h = hashBeneath(root, dst.paths[plan.checkDst[k + n]!]!);
              if (h) buf.set(h, n * per + 4);
            });
            await ch.write(encodeFrame(F_CHECK, buf));
            watch.touch();
          }
        }
        const withBasis = receiver.deltaOrder();
        for (let k = 0; k < withBasis.length; k += 65536) await ch.write(encodeFrame(F_BASIS, u32List(withBasis.slice(k, k + 65536))));
        await ch.write(encodeFrame(F_NEED_END));
        // The block hashes of each file with a basis, in the daemon's sending order (it waits for them).
        if (withBasis.length) {
          void receiver.sign((f) => ch.write(f)).catch((err) => ch.destroy(`delta: ${(err as Error).message}`));
        }
        await Promise.race([
          ch.closed,
          new Promise<void>((r) => (receiver.onDone = r)),
        ]);
        if (!receiver.done) {
          dataFailed = true;
          const why = s.interrupted ? "interrupted" : watch.stalled ? stallMessage(u, phase) : receiver.peerError ? `daemon gave up: ${receiver.peerError}` : frameError ? `bad data from the daemon: ${frameError}` : `${lostWords(u, phase.phase)}: ${LOST_ADVICE}`;
          receiver.abort(why, watch.stalled ? "TIMEOUT" : undefined);
          // Lost or stalled, not refused: another attempt may finish it (bad data would come again).
          if (!s.interrupted && !frameError) s.retryReason ??= why;
        }
        await ch.end();
      } catch (err) {
        dataFailed = true;
        const why = watch.stalled ? stallMessage(u, phase) : `${lostWords(u, phase.phase)} (${(err as Error).message}): ${LOST_ADVICE}`;
        receiver.abort(why, watch.stalled ? "TIMEOUT" : undefined);
        if (!s.interrupted && !frameError) s.retryReason ??= why;
        ch.destroy();
      } finally {
        watch.stop();
        offInterrupt();
      }
    }
    timing.transferMs = performance.now() - tData;
    const tComplete = performance.now();
    try {
      const req = { transfer_id: reply.transfer_id, client_errors: 0, transport: s.transport, aborted: dataFailed || s.interrupted };
      const done = dataFailed || s.interrupted ? await s.completeAborted<any>(req) : await s.call<any>("Complete", req, "completing (Complete)");
      if (done.status === "failed" && !dataFailed) addError({ path: ".", side: "source", code: "REMOTE", message: "the daemon reports the transfer failed" });
    } catch (err) {
      if (!dataFailed) fatal(err);
    }
    timing.completeMs = performance.now() - tComplete;
    await receiver.settle();
    const tDel = performance.now();
    summary = receiver.finish({ interrupted: dataFailed || s.interrupted });
    timing.deleteMs = performance.now() - tDel;
    if (dataFailed && !s.interrupted) s.failed = true;
  } finally {
    root.close();
  }
  if (summary) {
    counts.copied = summary.filesWritten + summary.symlinks + summary.specials;
    counts.copiedBytes = summary.bytesWritten;
    if (summary.holeBytes) counts.holeBytes = summary.holeBytes;
    counts.deleted = summary.deleted;
    counts.dirsCreated = summary.dirsCreated;
    counts.symlinks = summary.symlinks;
    counts.skipped += summary.same;
    for (const e of summary.errors) addError(e);
    s.errorCount += summary.errorCount - summary.errors.length;
    if (summary.fatal) s.failed = true;
    s.delta.files = summary.deltaFiles;
    s.delta.matchedBytes = summary.matchedBytes;
    s.delta.literalBytes = summary.literalBytes;
    s.delta.resumedFiles = summary.resumedFiles;
    s.delta.resumedBytes = summary.resumedBytes;
  }
}

/** Removes a temporary a killed earlier pull left in the destination (best effort). */
function removeStale(root: RootedDir, rel: string): void {
  try {
    removeEntryAt(root, rel);
  } catch {
    /* best effort */
  }
}

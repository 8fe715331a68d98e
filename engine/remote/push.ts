// A push: walk the local source, send its manifest in Negotiate, send the files the daemon needs
// over the data plane, then Complete. The daemon writes under temporary names and renames.
import {
  backend, linuxFd, openRooted, readMetadataAt, nameFs, namePath, type Xattr,
} from "../../ffi/index.ts";
import {
  encodeFrame, encodeManifest, F_DONE, F_ERROR, F_HELLO, F_SIGS, FEATURE_METADATA, FEATURE_SPARSE, FEATURES, FrameDecoder,
  peerFeatures, printable, readU32List, decodeText, doneFrame,
} from "../../proto/index.ts";
import type { Progress } from "../run.ts";
import { ChannelClosedError, countedChannel } from "./channel.ts";
import { DELTA_MIN_BYTES, SigStore } from "./delta.ts";
import { resolveChecks, sameFrames, sendFiles } from "./send.ts";
import { readTreeXattrs } from "./metadata.ts";
import { VERSION } from "../version.ts";
import { emptyTree, T_FILE, walkTree } from "../walk.ts";
import { StallWatch } from "./stall-watch.ts";
import { selectionRules } from "../options.ts";
import { asksMetadata, LOST_ADVICE, lostWords, requireFilterFeature, stallMessage, OLD_PEER, openChannel, RemoteError, wireOptions, xattrSelection, type RemoteHooks, type RemoteSession } from "./session.ts";
const { statSync } = nameFs;
const { basename, dirname } = namePath;

/** Runs the push of session `s`; failures throw (the caller records them as the run's error). */
export async function push(s: RemoteSession, hooks: RemoteHooks): Promise<void> {
  const { job, u, client, md, local, counts, notes, actions, timing, errors, addError, fatal } = s;
  const opts = job.options;
  const tEnum = performance.now();
  const single = statSync(local).isFile();
  const rootPath = single ? dirname(local) : local;
  const sel = xattrSelection(opts);
  let xattrs: Record<number, Xattr[]> | undefined;
  let rootXattrs: Xattr[] | undefined;
  if (single) {
    const st = backend().lstat(local);
    s.src = { ...emptyTree(), rootExists: true, paths: [basename(local)], types: [T_FILE], sizes: [st.size], modes: [st.mode], mtimeSec: [st.mtimeSec], mtimeNsec: [st.mtimeNsec] };
    if (opts.owner || opts.group || sel) {
      const dir = openRooted(rootPath);
      try {
        const meta = readMetadataAt(linuxFd(dir, "."), basename(local), { owner: true, group: true, xattrs: opts.xattrs, acls: opts.acls });
        s.src.uid = [meta.uid ?? 0];
        s.src.gid = [meta.gid ?? 0];
        if (meta.xattrs?.length) xattrs = { 0: meta.xattrs };
      } finally {
        dir.close();
      }
    }
  } else {
    s.src = walkTree(local, selectionRules(opts), "source");
    for (const e of s.src.errors) addError(e);
    if (sel && s.src.rootExists) {
      const dir = openRooted(local);
      try {
        ({ xattrs, root: rootXattrs } = readTreeXattrs(dir, s.src, sel, addError));
      } finally {
        dir.close();
      }
    }
  }
  timing.enumerateMs = performance.now() - tEnum;
  const tNeg = performance.now();
  const reply = await s.call<any>("Negotiate", {
    direction: "push", module: u.module, path: u.path, client_version: VERSION, features: FEATURES,
    options: wireOptions(job, u),
    manifest: encodeManifest(s.src, single, { hardLinks: opts.hardLinks, owner: opts.owner, group: opts.group, numericIds: opts.numericIds, xattrs, rootXattrs }),
  }, "negotiating (Negotiate)");
  timing.negotiateMs = performance.now() - tNeg;
  requireFilterFeature(opts, reply.features, u);
  if (asksMetadata(opts) && !peerFeatures(reply.features).has(FEATURE_METADATA)) notes.metadata = `the daemon ${OLD_PEER}`;
  for (const [k, why] of Object.entries((reply.not_kept ?? {}) as Record<string, unknown>)) notes[printable(k)] = printable(String(why));
  s.specialsSkipped = countsByKind(reply.specials_skipped);
  let need: number[];
  try {
    need = [...readU32List(reply.need ?? new Uint8Array(0))];
  } catch {
    throw new RemoteError("PROTOCOL", "daemon sent a malformed need list");
  }
  for (const i of need) if (i >= s.src.paths.length || s.src.types[i] !== T_FILE) throw new RemoteError("PROTOCOL", `daemon asked for entry ${i}, which is not a file`);
  // Files the daemon has a basis for (its older version, or a part a broken transfer kept): their block hashes come on the data plane.
  const basis = new Set<number>();
  try {
    const needed = new Set(need);
    for (const i of readU32List(reply.basis ?? new Uint8Array(0))) {
      if (!needed.has(i) || s.src.sizes[i]! < DELTA_MIN_BYTES) throw new Error(`entry ${i}`);
      basis.add(i);
    }
  } catch (err) {
    throw new RemoteError("PROTOCOL", `daemon sent a bad basis list (${(err as Error).message})`);
  }
  for (const e of reply.errors ?? []) addError({ path: printable(String(e.path)), side: "destination", code: String(e.code), message: printable(String(e.message)) });
  s.errorCount += Math.max(0, (reply.error_count ?? 0) - (reply.errors?.length ?? 0));
  counts.deletePlanned = reply.delete_planned ?? 0;
  counts.skipped = reply.skipped ?? 0;
  counts.skippedBytes = reply.skipped_bytes ?? 0;
  const checks: { index: number; hash: Uint8Array }[] = (reply.checks ?? []).map((c: any) => ({ index: c.index >>> 0, hash: c.hash }));
  for (const c of checks) if (c.index >= s.src.paths.length || s.src.types[c.index] !== T_FILE) throw new RemoteError("PROTOCOL", `daemon compared entry ${c.index}, which is not a file`);
  counts.planned = need.length + checks.length;
  for (const i of need) counts.plannedBytes += s.src.sizes[i]!;
  if (opts.dryRun) {
    for (const i of need) actions.push({ kind: "copy", path: s.src.paths[i]!, bytes: s.src.sizes[i]! });
    for (const c of checks) actions.push({ kind: "copy", path: s.src.paths[c.index]!, bytes: s.src.sizes[c.index]! });
    for (const p of reply.delete_paths ?? []) actions.push({ kind: "delete", path: printable(String(p)) });
    return;
  }
  const root = openRooted(rootPath);
  let sendErrors = 0;
  let aborted = false;
  try {
    let same: number[] = [];
    let send = need;
    if (checks.length) {
      const r = resolveChecks(root, s.src, checks);
      same = r.same;
      send = need.concat(r.send);
      counts.skipped += same.length;
    }
    const tData = performance.now();
    if (send.length > 0 || same.length > 0) {
      const ch = countedChannel(await openChannel(client, md, u, reply.data_port ?? 0, !!job.forceGrpc, notes), s.wire);
      s.transport = ch.kind;
      const sigs = new SigStore(basis, (i) => s.src.sizes[i]!);
      void ch.closed.then(() => sigs.close("the data connection closed"));
      let peerError: string | undefined;
      let acked = false;
      let ack!: () => void;
      const acknowledged = new Promise<void>((r) => (ack = r));
      const dec = new FrameDecoder({
        frame: (type, p) => {
          if (type === F_ERROR) peerError = printable(decodeText(p));
          else if (type === F_SIGS) sigs.add(p);
          else if (type === F_DONE) {
            acked = true;
            ack();
          }
        },
        data: () => {},
      });
      // Progress is bytes leaving (sendFiles reports each chunk) or arriving (the daemon's DONE).
      let phase = s.limit("sending data");
      const watch = new StallWatch(s.timeout, () => ch.destroy(stallMessage(u, phase)));
      ch.onBytes((c) => {
        watch.touch();
        dec.feed(c);
      });
      const offInterrupt = s.onInterrupt(() => ch.destroy("interrupted"));
      try {
        await ch.write(encodeFrame(F_HELLO, reply.token));
        for (const f of sameFrames(same)) await ch.write(f);
        const progress: Progress = { phase: "transfer", filesDone: 0, bytesDone: 0, filesTotal: send.length, bytesTotal: counts.plannedBytes };
        const res = await sendFiles(ch, root, s.src, send, {
          checksum: opts.checksum,
          bwlimit: opts.bwlimit,
          sparse: peerFeatures(reply.features).has(FEATURE_SPARSE),
          delta: basis.size ? { files: basis, sigs } : undefined,
          cancelled: () => s.interrupted,
          onProgress: (f, b) => {
            watch.touch();
            progress.filesDone += f;
            progress.bytesDone += b;
            hooks.onProgress?.({ ...progress });
          },
        });
        for (const e of res.errors) addError(e);
        sendErrors = res.errors.length;
        s.delta.literalBytes += res.literalBytes;
        phase = s.limit("waiting for the daemon to confirm the data (DONE)");
        watch.touch();
        await ch.write(doneFrame(res.files, res.errors.length));
        // The daemon confirms with its own DONE once everything is written.
        await Promise.race([acknowledged, ch.closed]);
        if (!acked) throw new ChannelClosedError(peerError ?? ch.failure ?? "the daemon closed the data connection before confirming");
        await ch.end();
      } catch (err) {
        aborted = true;
        ch.destroy();
        if (s.interrupted) {
          /* the run is recorded as interrupted */
        } else if (watch.stalled) fatal(new RemoteError("TIMEOUT", stallMessage(u, phase)));
        // A dropped connection or a daemon that stopped mid-transfer: another attempt may finish it.
        else fatal(new RemoteError("REMOTE", peerError ? `transfer to ${u.address} failed: ${peerError}` : `${lostWords(u, phase.phase)} (${(err as Error).message}): ${LOST_ADVICE}`, true));
      } finally {
        watch.stop();
        offInterrupt();
      }
    }
    timing.transferMs = performance.now() - tData;
  } finally {
    root.close();
  }
  const tComplete = performance.now();
  let done: any;
  try {
    const req = { transfer_id: reply.transfer_id, client_errors: sendErrors, transport: s.transport, aborted: aborted || s.interrupted };
    done = aborted || s.interrupted ? await s.completeAborted<any>(req) : await s.call<any>("Complete", req, "completing (Complete)");
  } catch (err) {
    // After a failed transfer the daemon's answer adds nothing to the error already recorded.
    if (aborted || s.interrupted) return;
    throw err;
  }
  timing.completeMs = performance.now() - tComplete;
  counts.copied = done.files_written ?? 0;
  counts.copiedBytes = done.bytes_written ?? 0;
  if (done.hole_bytes) counts.holeBytes = Number(done.hole_bytes);
  s.delta.files = done.delta_files ?? 0;
  s.delta.matchedBytes = Number(done.matched_bytes ?? 0);
  s.delta.resumedFiles = done.resumed_files ?? 0;
  s.delta.resumedBytes = Number(done.resumed_bytes ?? 0);
  counts.deleted = done.deleted ?? 0;
  counts.dirsCreated = done.dirs_created ?? 0;
  counts.symlinks = done.symlinks ?? 0;
  counts.copied += counts.symlinks + (done.specials ?? 0);
  // The daemon's summary repeats the errors it reported at negotiation; keep the final list.
  const negotiated = errors.filter((e) => e.side === "destination");
  for (const e of negotiated) errors.splice(errors.indexOf(e), 1);
  s.errorCount -= negotiated.length;
  for (const e of done.errors ?? []) addError({ path: printable(String(e.path)), side: "destination", code: String(e.code), message: printable(String(e.message)) });
  s.errorCount += Math.max(0, (done.error_count ?? 0) - (done.errors?.length ?? 0));
  if (done.status === "failed") s.failed = true;
}

/** A peer's count by kind (a protobuf map), bounded to the four kinds. */
function countsByKind(m: unknown): Partial<Record<string, number>> {
  const out: Partial<Record<string, number>> = {};
  if (!m || typeof m !== "object") return out;
  for (const k of ["fifo", "socket", "char", "block"]) {
    const n = Number((m as Record<string, unknown>)[k]);
    if (Number.isSafeInteger(n) && n > 0) out[k] = n;
  }
  return out;
}

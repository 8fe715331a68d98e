// Complete: the client's end of a transfer. Waits for the data plane, settles a push's receiver
// (renames, deletions, metadata), records the run and answers with its summary.
import { join } from "node:path";
import { makeRunReport, workloadOf, type ReceiveSummary, type RunReport } from "../../engine/index.ts";
import { displayName, filesystemType } from "../../ffi/index.ts";
import { DaemonError } from "../errors.ts";
import type { Transfer } from "../transfers.ts";
import { unary, wireErrors, type RpcContext } from "./context.ts";

export function complete(ctx: RpcContext) {
  return unary(ctx, async (req: any) => {
    const t = ctx.transfers.get(String(req.transfer_id));
    if (!t) throw new DaemonError("NOT_FOUND", "transfer not found (it ended or expired)");
    t.touch();
    if (req.aborted) t.abort("the client gave up");
    else if (t.dataState === "waiting") t.expire();
    await t.dataDone;
    ctx.transfers.delete(t.id);
    ctx.byToken.delete(t.tokenHex);
    let summary: ReceiveSummary | undefined;
    try {
      if (t.direction === "push") {
        const r = t.receiver!;
        if (t.dataState === "expired" && !req.aborted) r.prepare();
        await r.settle();
        summary = r.finish({ extraErrors: Number(req.client_errors) || 0, interrupted: !!req.aborted || t.dataState === "failed" });
      }
    } catch (err) {
      ctx.metrics.transferCutOff(t, "failed");
      throw err;
    } finally {
      t.release();
    }
    const report = daemonReport(t, summary, !!ctx.config.tls, !!req.aborted);
    ctx.recordRun(report);
    ctx.metrics.transferCompleted(t, report); // the same report: metrics and telemetry agree
    const s = summary;
    const errors = s ? s.errors : t.failure ? [{ path: ".", side: "run" as const, code: "TRANSFER_FAILED", message: t.failure }] : [];
    return {
      status: report.status,
      files_written: s?.filesWritten ?? 0,
      bytes_written: s?.bytesWritten ?? 0,
      deleted: s?.deleted ?? 0,
      delete_planned: s?.deletePlanned ?? 0,
      dirs_created: s?.dirsCreated ?? 0,
      symlinks: s?.symlinks ?? 0,
      specials: s?.specials ?? 0,
      errors: wireErrors(errors.slice(0, 100)),
      error_count: s ? s.errorCount : errors.length,
      transport: t.transport,
      files_sent: t.sent.files,
      bytes_sent: t.sent.bytes,
      same: s?.same ?? t.sent.same,
      hole_bytes: s ? s.holeBytes : t.sent.holeBytes,
      delta_files: s ? s.deltaFiles : t.sent.deltaFiles,
      matched_bytes: s ? s.matchedBytes : t.sent.matchedBytes,
      resumed_files: s?.resumedFiles ?? 0,
      resumed_bytes: s?.resumedBytes ?? 0,
    };
  });
}

/** What delta and resume kept, as the daemon saw it (its record's transport.delta); nothing when no file had a basis. */
function deltaOf(push: boolean, s: ReceiveSummary | undefined, t: Transfer): { delta?: NonNullable<RunReport["transport"]>["delta"] } {
  if (push) {
    if (!s?.deltaFiles) return {};
    return { delta: { files: s.deltaFiles, matchedBytes: s.matchedBytes, literalBytes: s.literalBytes, resumedFiles: s.resumedFiles, resumedBytes: s.resumedBytes } };
  }
  if (!t.sent.deltaFiles) return {};
  return { delta: { files: t.sent.deltaFiles, matchedBytes: t.sent.matchedBytes, literalBytes: t.sent.literalBytes, resumedFiles: 0, resumedBytes: 0 } };
}

/** The daemon's own record of a finished transfer (its telemetry); a client that gave up (Ctrl-C) makes it "interrupted", as the client's own record is. */
function daemonReport(t: Transfer, s: ReceiveSummary | undefined, tls: boolean, aborted: boolean): RunReport {
  const now = new Date();
  const totalMs = performance.now() - t.t0;
  const push = t.direction === "push";
  const errors = s?.errors ?? (t.failure ? [{ path: ".", side: "run" as const, code: "TRANSFER_FAILED", message: t.failure }] : []);
  const errorCount = s?.errorCount ?? errors.length + t.sent.errors;
  const failed = t.dataState === "failed" || !!s?.fatal;
  const modPath = join(t.module.path, t.path);
  const bytes = push ? s?.bytesWritten ?? 0 : t.sent.bytes;
  const files = push ? s?.filesWritten ?? 0 : t.sent.files;
  const holes = push ? s?.holeBytes ?? 0 : t.sent.holeBytes;
  return makeRunReport({
    startedAt: t.startedAt,
    finishedAt: now,
    command: t.opts.mirror ? "mirror" : "copy",
    route: t.direction,
    source: push ? `peer ${t.peer}` : modPath,
    destination: push ? modPath : `peer ${t.peer}`,
    sourceFs: push ? "remote" : filesystemType(t.module.path),
    destinationFs: push ? filesystemType(t.module.path) : "remote",
    options: {
      dryRun: t.opts.dryRun, checksum: t.opts.checksum, sizeOnly: t.opts.sizeOnly, ignoreTimes: t.opts.ignoreTimes,
      exclude: t.opts.exclude, filter: t.opts.filter, workers: 1, bwlimit: 0, maxDelete: t.opts.maxDelete, force: t.opts.force, hardLinks: t.opts.hardLinks,
      owner: t.opts.owner, group: t.opts.group, xattrs: t.opts.xattrs, acls: t.opts.acls, specials: t.opts.specials, devices: t.opts.devices,
      numericIds: t.opts.numericIds,
    },
    workload: workloadOf(t.src),
    plan: { strategy: "remote", workers: 1, classes: [] },
    phases: { enumerateMs: 0, planMs: 0, transferMs: t.transferMs, deleteMs: 0, totalMs },
    counts: {
      planned: push ? t.plan!.need.length + t.plan!.checks.length : files,
      plannedBytes: 0,
      copied: files,
      copiedBytes: bytes,
      ...(holes ? { holeBytes: holes } : {}),
      skipped: push ? t.plan!.skipped + (s?.same ?? 0) : 0,
      skippedBytes: push ? t.plan!.skippedBytes : 0,
      deleted: s?.deleted ?? 0,
      deletePlanned: s?.deletePlanned ?? 0,
      dirsCreated: s?.dirsCreated ?? 0,
      symlinks: s?.symlinks ?? 0,
    },
    bytesByPath: bytes ? { stream: bytes } : {},
    filesByPath: files ? { stream: files } : {},
    fastPathNotes: {},
    errors: errors.slice(0, 1000).map((e) => ({ ...e, path: displayName(e.path), message: displayName(e.message) })),
    errorCount,
    failed,
    interrupted: aborted,
    transport: {
      kind: t.transport === "grpc" ? "grpc" : "tcp", tls, negotiateMs: 0, transferMs: t.transferMs, completeMs: 0,
      ...deltaOf(push, s, t),
    },
    ...t.context(),
  });
}

#!/usr/bin/env bun
// Remote transport benchmark: blit push/pull through blitd (tcp and gRPC data paths) against
// rsync's own daemon (rsync://) and against a raw TCP copy of the same bytes (the ceiling), over
// loopback with source and destination on tmpfs (/dev/shm), so the transport is measured, not the
// disk. With TLS (`--only ...,tls`, on by default): blit push over blits:// against rsync over ssh
// (our own sshd, default cipher) and against plaintext blit. Follows ../shared/BENCHMARKING.md (beside the repository): tools interleaved, one warm-up round thrown away,
// medians of >= 3 runs, `sync` after each run, every destination fresh, workspace removed in
// `finally` (and on SIGINT/SIGTERM). The proofs of issue 15 (delta transfer over a limited link,
// resume after a killed client, retries across a restarted blitd) are in remote-resilience.ts.
//
//   bun test/bench/remote-bench.ts [--runs N] [--scale F] [--only large,small,tls,delta,resume,retries]
//                                  [--link auto|tc|bwlimit] [--out FILE]
import { linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { makeRandomFile, makeSmallTree } from "./gen.ts";
import { median, run, sync } from "./measure.ts";
import { RESILIENCE_SCENARIOS, resilienceScenarios } from "./remote-resilience.ts";
import { sshMissing, startSshd, type SshServer } from "./ssh-server.ts";

const { values: flags } = parseArgs({
  args: process.argv.slice(2),
  strict: true,
  options: {
    runs: { type: "string" },
    scale: { type: "string" },
    only: { type: "string" },
    out: { type: "string" },
    link: { type: "string" },
    "delta-fs": { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (flags.help) {
  console.log(`Usage: bun test/bench/remote-bench.ts [--runs N] [--scale F] [--only large,small,tls,delta,resume,retries]
                                   [--link auto|tc|bwlimit] [--delta-fs disk,xfs] [--out FILE]
Needs rsync, python3 (the raw TCP ceiling) and /dev/shm; tls needs openssl, and openssh-server for
the rsync-over-ssh baseline (skipped with a message without them). --runs: measured runs per tool
(>= 3, default 3) after one warm-up round. --scale shrinks the workloads (1 GiB file, 100,000 x
4 KiB files) for a smoke run (0.05: the delta, resume and retries proofs in under a minute).
--only picks scenarios (default all): large, small (push and pull), tls (pushes over TLS too),
delta (16 scattered 4 KiB edits in a 1 GiB file, and a fully rewritten one, against rsyncd and
--whole-file), resume (a push killed at 50% and run again), retries (blitd restarted mid-push).
--link: how delta's link is limited to 100 MiB/s: tc (a network namespace with a tc tbf qdisc on
its loopback; needs root, util-linux and iproute2), bwlimit (each tool's own --bwlimit), auto
(default: tc if it works here, else bwlimit). --delta-fs: where delta runs: disk (the OS temp dir,
ext4 here: no reflinks, so the receiver copies the old file into the new one), xfs (an XFS loop
filesystem with reflink=1: the new file is a clone of the old one; needs mkfs.xfs, losetup, root);
default both (disk only without mkfs.xfs).`);
  process.exit(0);
}
const runs = Number(flags.runs ?? 3);
if (!Number.isInteger(runs) || runs < 3) throw new RangeError("--runs needs a whole number of at least 3");
const scale = Number(flags.scale ?? 1);
const only = new Set((flags.only ?? `large,small,tls,${RESILIENCE_SCENARIOS.join(",")}`).split(","));
const known = new Set(["large", "small", "tls", ...RESILIENCE_SCENARIOS]);
for (const o of only) if (!known.has(o)) throw new RangeError(`--only: unknown scenario "${o}"; choose from ${[...known].join(", ")}`);
const link = flags.link ?? "auto";
if (link !== "auto" && link !== "tc" && link !== "bwlimit") throw new RangeError(`--link must be auto, tc or bwlimit, got "${link}"`);

const deltaFs = (flags["delta-fs"] ?? (Bun.which("mkfs.xfs") ? "disk,xfs" : "disk")).split(",") as ("disk" | "xfs")[];
for (const f of deltaFs) if (f !== "disk" && f !== "xfs") throw new RangeError(`--delta-fs: unknown place "${f}"; choose disk, xfs or both (disk,xfs)`);
if (!flags["delta-fs"] && !Bun.which("mkfs.xfs")) console.error("delta on XFS with reflinks skipped: mkfs.xfs is not installed (apt-get install xfsprogs)");

const repo = fileURLToPath(new URL("../../", import.meta.url));
const bun = process.execPath;
const ws = mkdtempSync("/dev/shm/blit-bench-remote-");
const children: ReturnType<typeof Bun.spawn>[] = [];
const extraDirs: string[] = [];
const mounts: string[] = [];
const cleanupAll = () => {
  for (const m of mounts) if (Bun.spawnSync(["umount", m]).exitCode !== 0) Bun.spawnSync(["umount", "-l", m]);
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
  for (const d of [ws, ...extraDirs]) rmSync(d, { recursive: true, force: true });
};
process.on("SIGINT", () => (cleanupAll(), process.exit(130)));
process.on("SIGTERM", () => (cleanupAll(), process.exit(143)));

interface Sample {
  tool: string;
  ms: number;
}
const results: { scenario: string; bytes: number; files: number; samples: Sample[] }[] = [];

async function timeCmd(cmd: string[], env: Record<string, string> = {}): Promise<number> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", env: { ...process.env, BLIT_TELEMETRY: "off", ...env } });
  children.push(p);
  const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`${cmd.join(" ")} exited ${code}: ${out.slice(-500)} ${err.slice(-500)}`);
  return ms;
}

// The ceiling: python3's socket.sendfile (zero-copy) into recv_into + os.write with a 4 MiB buffer,
// file to file over loopback; no framing, no metadata, no temp+rename.
const RAW_RECV = `import os,socket,sys
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1); print(s.getsockname()[1], flush=True)
c,_=s.accept(); fd=os.open(sys.argv[1], os.O_WRONLY|os.O_CREAT|os.O_TRUNC, 0o644); b=bytearray(4<<20); m=memoryview(b)
while True:
    n=c.recv_into(b)
    if n==0: break
    o=0
    while o<n: o+=os.write(fd, m[o:n])
os.close(fd)`;
const RAW_SEND = `import socket,sys
c=socket.create_connection(("127.0.0.1",int(sys.argv[1])))
with open(sys.argv[2],"rb") as f: c.sendfile(f)
c.shutdown(socket.SHUT_WR); c.recv(1); c.close()`;

async function rawCopy(file: string, dest: string): Promise<number> {
  const t0 = performance.now();
  const recv = Bun.spawn(["python3", "-c", RAW_RECV, dest], { stdout: "pipe", stderr: "inherit" });
  children.push(recv);
  const reader = (recv.stdout as ReadableStream<Uint8Array>).getReader();
  let text = "";
  while (!text.includes("\n")) text += new TextDecoder().decode((await reader.read()).value);
  const send = Bun.spawn(["python3", "-c", RAW_SEND, text.trim(), file], { stdout: "ignore", stderr: "inherit" });
  children.push(send);
  await Promise.all([send.exited, recv.exited]);
  return performance.now() - t0;
}

try {
  const blitMod = join(ws, "blit-mod");
  const rsyncMod = join(ws, "rsync-mod");
  const out = join(ws, "out");
  for (const d of [blitMod, rsyncMod, out]) mkdirSync(d);
  const bigBytes = Math.round((1 << 30) * scale);
  const smallFiles = Math.max(100, Math.round(100_000 * scale));
  // tmpfs footprint is kept to about 2 GiB at any time: on these VMs, once a few GiB of memory are
  // in use, filling more pages costs several times as much (measured: 1 GiB into /dev/shm took
  // 0.45 s up to 4-5 GiB in use, then 2.9 s), which would charge whichever tool runs last. So the
  // pull sources are hard links of the push sources (no copy), the small tree is made only after
  // the large runs are gone, and each run's output is removed right after that run (on tmpfs a
  // removal is synchronous and leaves no disk work behind, unlike the ext4 case BENCHMARKING.md
  // warns about).
  writeFileSync(join(ws, "blitd.toml"), `telemetry = false\n[modules.m]\npath = ${JSON.stringify(blitMod)}\nread_only = false\n`);
  const rsyncPort = 20000 + Math.floor(Math.random() * 20000);
  writeFileSync(join(ws, "rsyncd.conf"), `uid = root\ngid = root\nuse chroot = no\npid file = ${ws}/rsyncd.pid\n[m]\npath = ${rsyncMod}\nread only = no\n`);
  const rsyncd = Bun.spawn(["rsync", "--daemon", "--no-detach", `--config=${ws}/rsyncd.conf`, `--port=${rsyncPort}`, "--address=127.0.0.1"], { stdout: "ignore", stderr: "inherit" });
  children.push(rsyncd);
  const blitd = Bun.spawn([bun, join(repo, "daemon/main.ts"), "--config", join(ws, "blitd.toml"), "--bind", "127.0.0.1:0", "--quiet"], { stdout: "pipe", stderr: "inherit", env: { ...process.env, BLIT_TELEMETRY: "off" } });
  children.push(blitd);
  const rd = (blitd.stdout as ReadableStream<Uint8Array>).getReader();
  let banner = "";
  while (!/:(\d+)\n/.test(banner)) banner += new TextDecoder().decode((await rd.read()).value);
  const port = Number(/:(\d+)\n/.exec(banner)![1]);
  await Bun.sleep(300);
  const blit = (args: string[]) => [bun, join(repo, "test/remote/remote-cli.ts"), ...args, "--no-progress"];
  const rsyncUrl = `rsync://127.0.0.1:${rsyncPort}/m`;
  const blitUrl = `blit://127.0.0.1:${port}/m`;
  process.stderr.write(`blitd on ${port}, rsyncd on ${rsyncPort}\n`);
  const tls = only.has("tls") && (only.has("large") || only.has("small")) ? await startTlsPeers() : undefined;

  /**
   * The TLS peers: a second blitd with a certificate made now (self-signed; the client pins its
   * key on first use, as a user would with --tls-accept-new), and our own sshd for rsync -e ssh.
   * Either is left out, with a message, when its tools are missing.
   */
  async function startTlsPeers(): Promise<{ url: string; home: string; ssh?: SshServer } | undefined> {
    if (!Bun.which("openssl")) {
      process.stderr.write("TLS runs skipped: openssl is not installed (apt-get install openssl)\n");
      return undefined;
    }
    const dir = join(ws, "tls");
    mkdirSync(dir);
    const gen = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "key.pem"),
      "-out", join(dir, "cert.pem"), "-days", "2", "-subj", "/CN=blit-bench", "-addext", "subjectAltName=IP:127.0.0.1"], { stdout: "pipe", stderr: "pipe" });
    if (gen.exitCode !== 0) throw new Error(`openssl: ${gen.stderr.toString()}`);
    writeFileSync(join(dir, "blitd.toml"), `telemetry = false\ntls_cert_file = "cert.pem"\ntls_key_file = "key.pem"\n[modules.m]\npath = ${JSON.stringify(blitMod)}\nread_only = false\n`);
    const d = Bun.spawn([bun, join(repo, "daemon/main.ts"), "--config", join(dir, "blitd.toml"), "--bind", "127.0.0.1:0", "--quiet"], { stdout: "pipe", stderr: "inherit", env: { ...process.env, BLIT_TELEMETRY: "off" } });
    children.push(d);
    const r = (d.stdout as ReadableStream<Uint8Array>).getReader();
    let b = "";
    while (!/:(\d+)\n/.test(b)) b += new TextDecoder().decode((await r.read()).value);
    const tlsPort = Number(/:(\d+)\n/.exec(b)![1]);
    const missing = sshMissing();
    let ssh: SshServer | undefined;
    if (missing) process.stderr.write(`rsync over ssh skipped: ${missing}\n`);
    else {
      ssh = await startSshd(join(ws, "ssh"));
      children.push(ssh.proc);
    }
    process.stderr.write(`blitd with TLS on ${tlsPort}${ssh ? `, sshd on ${ssh.port}` : ""}\n`);
    return { url: `blits://127.0.0.1:${tlsPort}/m`, home: join(dir, "home"), ssh };
  }

  /** Plaintext blit, blit over TLS and rsync over ssh, each pushing `from` into a fresh directory. */
  function tlsTools(from: string, tag: string): Record<string, (run: number) => Promise<number>> {
    const tools: Record<string, (run: number) => Promise<number>> = {
      "blit-tcp": (r) => timeCmd(blit(["push", from, `${blitUrl}/${tag}-tcp-${r}`])),
      "blit-tls": (r) => timeCmd(blit(["push", from, `${tls!.url}/${tag}-tls-${r}`, "--tls-accept-new"]), { BLIT_HOME: tls!.home }),
    };
    const ssh = tls!.ssh;
    if (ssh) tools["rsync-ssh"] = (r) => timeCmd(["rsync", "-a", "-e", ssh.rshell, from + "/", `${ssh.login}:${rsyncMod}/${tag}-ssh-${r}/`]);
    return tools;
  }

  function tlsOutput(tool: string, tag: string, r: number): string {
    return tool === "rsync-ssh" ? join(rsyncMod, `${tag}-ssh-${r}`) : join(blitMod, `${tag}-${tool === "blit-tls" ? "tls" : "tcp"}-${r}`);
  }

  // `after` runs after each tool's run. The large scenarios remove that run's 1 GiB output there,
  // so every tool writes into memory the previous one just freed: on this VM, tmpfs pages never
  // touched before cost several times more to fill, which would penalize whichever tool runs last.
  async function scenario(name: string, bytes: number, files: number, tools: Record<string, (run: number) => Promise<number>>, after?: (run: number, tool: string) => void) {
    const samples: Sample[] = [];
    for (let r = 0; r <= runs; r++) {
      for (const [tool, fn] of Object.entries(tools)) {
        const ms = await fn(r);
        await sync();
        if (r > 0) samples.push({ tool, ms });
        process.stderr.write(`  ${name} ${tool} run ${r}${r === 0 ? " (warm-up)" : ""}: ${(ms / 1000).toFixed(2)} s\n`);
        after?.(r, tool);
      }
    }
    results.push({ scenario: name, bytes, files, samples });
  }

  if (only.has("large")) {
    process.stderr.write(`generating a ${bigBytes} B file...\n`);
    mkdirSync(join(ws, "big"));
    await makeRandomFile(join(ws, "big", "big.bin"), bigBytes);
    // The pull sources: the same file, hard-linked into each module.
    for (const mod of [blitMod, rsyncMod]) {
      mkdirSync(join(mod, "big-src"));
      linkSync(join(ws, "big", "big.bin"), join(mod, "big-src", "big.bin"));
    }
    await scenario("large push (1 file)", bigBytes, 1, {
      "blit-tcp": (r) => timeCmd(blit(["push", join(ws, "big"), `${blitUrl}/lp-tcp-${r}`])),
      "blit-grpc": (r) => timeCmd(blit(["push", join(ws, "big"), `${blitUrl}/lp-grpc-${r}`, "--force-grpc"])),
      rsyncd: (r) => timeCmd(["rsync", "-a", join(ws, "big") + "/", `${rsyncUrl}/lp-${r}/`]),
      "raw-tcp": (r) => rawCopy(join(ws, "big", "big.bin"), join(out, `raw-${r}.bin`)),
    }, (r, tool) => {
      // One big file is cheap to remove (not a tree of many files).
      const p = { "blit-tcp": `${blitMod}/lp-tcp-${r}`, "blit-grpc": `${blitMod}/lp-grpc-${r}`, rsyncd: `${rsyncMod}/lp-${r}`, "raw-tcp": `${out}/raw-${r}.bin` }[tool];
      if (p) rmSync(p, { recursive: true, force: true });
    });
    await scenario("large pull (1 file)", bigBytes, 1, {
      "blit-tcp": (r) => timeCmd(blit(["pull", `${blitUrl}/big-src`, join(out, `lpull-tcp-${r}`)])),
      "blit-grpc": (r) => timeCmd(blit(["pull", `${blitUrl}/big-src`, join(out, `lpull-grpc-${r}`), "--force-grpc"])),
      rsyncd: (r) => timeCmd(["rsync", "-a", `${rsyncUrl}/big-src/`, join(out, `lpull-rsync-${r}`) + "/"]),
      "raw-tcp": (r) => rawCopy(join(ws, "big", "big.bin"), join(out, `rawp-${r}.bin`)),
    }, (r, tool) => {
      const p = { "blit-tcp": `lpull-tcp-${r}`, "blit-grpc": `lpull-grpc-${r}`, rsyncd: `lpull-rsync-${r}`, "raw-tcp": `rawp-${r}.bin` }[tool];
      if (p) rmSync(join(out, p), { recursive: true, force: true });
    });
    if (tls) {
      await scenario("large push over TLS (1 file)", bigBytes, 1, tlsTools(join(ws, "big"), "tlp"), (r, tool) => rmSync(tlsOutput(tool, "tlp", r), { recursive: true, force: true }));
    }
  }
  if (only.has("small")) {
    for (const p of [join(ws, "big"), join(blitMod, "big-src"), join(rsyncMod, "big-src")]) rmSync(p, { recursive: true, force: true });
    process.stderr.write(`generating ${smallFiles} x 4 KiB files...\n`);
    await makeSmallTree(join(ws, "small"), { files: smallFiles, dirs: 200, size: 4096 });
    // The pull sources: the same tree, hard-linked into each module (cp -al, times kept).
    for (const mod of [blitMod, rsyncMod]) await timeCmd(["cp", "-al", join(ws, "small"), join(mod, "small-src")]);
    await sync();
    const drop = (path: string | undefined) => {
      if (path) rmSync(path, { recursive: true, force: true });
    };
    await scenario(`small push (${smallFiles} x 4 KiB)`, smallFiles * 4096, smallFiles, {
      "blit-tcp": (r) => timeCmd(blit(["push", join(ws, "small"), `${blitUrl}/sp-tcp-${r}`])),
      "blit-grpc": (r) => timeCmd(blit(["push", join(ws, "small"), `${blitUrl}/sp-grpc-${r}`, "--force-grpc"])),
      rsyncd: (r) => timeCmd(["rsync", "-a", join(ws, "small") + "/", `${rsyncUrl}/sp-${r}/`]),
    }, (r, tool) => drop(({ "blit-tcp": `${blitMod}/sp-tcp-${r}`, "blit-grpc": `${blitMod}/sp-grpc-${r}`, rsyncd: `${rsyncMod}/sp-${r}` } as Record<string, string>)[tool]));
    await scenario(`small pull (${smallFiles} x 4 KiB)`, smallFiles * 4096, smallFiles, {
      "blit-tcp": (r) => timeCmd(blit(["pull", `${blitUrl}/small-src`, join(out, `spull-tcp-${r}`)])),
      "blit-grpc": (r) => timeCmd(blit(["pull", `${blitUrl}/small-src`, join(out, `spull-grpc-${r}`), "--force-grpc"])),
      rsyncd: (r) => timeCmd(["rsync", "-a", `${rsyncUrl}/small-src/`, join(out, `spull-rsync-${r}`) + "/"]),
    }, (r, tool) => drop(join(out, ({ "blit-tcp": `spull-tcp-${r}`, "blit-grpc": `spull-grpc-${r}`, rsyncd: `spull-rsync-${r}` } as Record<string, string>)[tool]!)));
    if (tls) {
      await scenario(`small push over TLS (${smallFiles} x 4 KiB)`, smallFiles * 4096, smallFiles, tlsTools(join(ws, "small"), "tsp"), (r, tool) => drop(tlsOutput(tool, "tsp", r)));
    }
  }

  let resilience: Awaited<ReturnType<typeof resilienceScenarios>> | undefined;
  if (RESILIENCE_SCENARIOS.some((s) => only.has(s))) {
    // Out of tmpfs first: the 1 GiB source and its pull links (the small tree is reused by retries).
    for (const p of [join(ws, "big"), join(blitMod, "big-src"), join(rsyncMod, "big-src")]) rmSync(p, { recursive: true, force: true });
    const small = join(ws, "small");
    resilience = await resilienceScenarios({
      repo, bun, ws, runs, scale, only, link, children, extraDirs, mounts, deltaFs,
      smallTree: only.has("small") ? { root: small, files: smallFiles } : undefined,
    });
  }

  // ---- report ----
  const lines: string[] = [];
  const summary: Record<string, Record<string, { medianMs: number; minMs: number; maxMs: number; MiBps: number }>> = {};
  for (const s of results) {
    lines.push(`\n${s.scenario}  (tmpfs, loopback; median of ${runs} runs after a warm-up)`);
    const byTool: Record<string, number[]> = {};
    for (const x of s.samples) (byTool[x.tool] ??= []).push(x.ms);
    summary[s.scenario] = {};
    for (const [tool, ms] of Object.entries(byTool)) {
      const med = median(ms);
      const mibps = s.bytes / 1048576 / (med / 1000);
      summary[s.scenario]![tool] = { medianMs: med, minMs: Math.min(...ms), maxMs: Math.max(...ms), MiBps: mibps };
      lines.push(`  ${tool.padEnd(10)} ${(med / 1000).toFixed(2).padStart(7)} s  (min ${(Math.min(...ms) / 1000).toFixed(2)}, max ${(Math.max(...ms) / 1000).toFixed(2)})  ${mibps.toFixed(0).padStart(6)} MiB/s`);
    }
    const t = summary[s.scenario]!;
    if (t["rsyncd"]) {
      for (const tool of ["blit-tcp", "blit-grpc"]) {
        if (!t[tool]) continue;
        lines.push(`  ${tool} / rsyncd: time ${(t[tool]!.medianMs / t["rsyncd"]!.medianMs).toFixed(2)}x, throughput ${(t["rsyncd"]!.medianMs / t[tool]!.medianMs).toFixed(2)}x`);
      }
    }
    if (t["blit-tls"]) {
      const vsSsh = t["rsync-ssh"] ? t["rsync-ssh"]!.medianMs / t["blit-tls"]!.medianMs : undefined;
      if (vsSsh !== undefined) lines.push(`  blit-tls / rsync-ssh: throughput ${vsSsh.toFixed(2)}x (target >= 1.5x: ${vsSsh >= 1.5 ? "met" : "NOT met"})`);
      const kept = t["blit-tcp"]!.medianMs / t["blit-tls"]!.medianMs;
      lines.push(`  blit-tls throughput = ${(kept * 100).toFixed(0)}% of plaintext blit-tcp: TLS costs ${((1 - kept) * 100).toFixed(0)}% (target <= 30%: ${kept >= 0.7 ? "met" : "NOT met"})`);
    }
    if (t["raw-tcp"]) {
      for (const tool of ["blit-tcp", "blit-grpc"]) {
        if (t[tool]) lines.push(`  ${tool} throughput = ${((t["raw-tcp"]!.medianMs / t[tool]!.medianMs) * 100).toFixed(0)}% of the raw TCP ceiling`);
      }
    }
  }
  if (resilience) lines.push(...resilience.lines);
  const text = lines.join("\n");
  console.log(text);
  const json = { runs, scale, summary, ...(resilience ? { resilience: resilience.summary } : {}) };
  console.log(JSON.stringify(json));
  if (flags.out) writeFileSync(flags.out, JSON.stringify(json, null, 2));
  void run;
} finally {
  cleanupAll();
}
process.exit(0);

// Every layout perf script and strace print in the field, generated here as small texts (one test
// per layout): the readers take each with no unparsed line, and read the same facts from it.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectFormat, ingestTrace } from "../../traces/index.ts";
import { collect, fixture, rawLines, withTempDir } from "./helpers.ts";

/** Reads `lines` as a trace file (auto-detected), in a temp dir removed afterwards. */
function read(lines: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "blit-test-"));
  try {
    const path = join(dir, "trace.txt");
    writeFileSync(path, lines.join("\n") + "\n");
    const whole = collect(path);
    // tiny chunks give the very same events
    expect(collect(path, { chunkSize: 5 }).events).toEqual(whole.events);
    return whole;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The busiest functions the summary finds in `lines`, as [function, module, samples], sorted. */
async function functions(lines: string[]): Promise<[string, string, number][]> {
  return withTempDir(async (dir) => {
    const path = join(dir, "trace.txt");
    writeFileSync(path, lines.join("\n") + "\n");
    const r = await ingestTrace(path, { storePath: join(dir, "t.duckdb") });
    return r.summary.busiestFunctions!.map((f): [string, string, number] => [f.function, f.module, f.samples]).sort();
  });
}

describe("perf script layouts", () => {
  test("perf 3.x: right-aligned comm, pid, [cpu], time, event with ':', sym on the sample line, no blank lines", async () => {
    const lines = [
      "            perf  1234 [001] 12345.678901: cycles:  ffffffff8104f45a native_write_msr_safe ([kernel.kallsyms])",
      "            perf  1234 [001] 12345.678950: cycles:  ffffffff8104f45a native_write_msr_safe ([kernel.kallsyms])",
      "         swapper     0 [000] 12345.679000: cycles:  ffffffff81060c2a native_safe_halt+0x6 ([kernel.kallsyms])",
    ];
    const r = read(lines);
    expect(r.format).toBe("perf-script");
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.process, e.pid, e.tid, e.ts, e.name, e.fields.cpu])).toEqual([
      ["perf", 1234, 1234, 12345.678901, "cycles", "001"],
      ["perf", 1234, 1234, 12345.67895, "cycles", "001"],
      ["swapper", 0, 0, 12345.679, "cycles", "000"],
    ]);
    expect(await functions(lines)).toEqual([["native_safe_halt", "[kernel.kallsyms]", 1], ["native_write_msr_safe", "[kernel.kallsyms]", 2]]);
  });

  test("pid/tid, [cpu], period, an event with modifiers and a call chain: the leaf frame is the function", async () => {
    const lines = [
      "blit 4242/4243 [002] 100.000001:     250000 cpu-clock:pppH: ",
      "\t ffffffff81000000 memcpy_erms+0x1f (/lib/x86_64-linux-gnu/libc.so.6)",
      "\t     55d1c2a3b4c5 copy_chunk (/usr/bin/bun)",
      "",
      "blit 4242/4244 [003] 100.000250:     250000 cpu-clock:pppH: ",
      "\t ffffffff81234567 [unknown] ([kernel.kallsyms])",
      "",
    ];
    const r = read(lines);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.pid, e.tid, e.name, e.fields.period, e.fields.event, e.fields.cpu])).toEqual([
      [4242, 4243, "cpu-clock", "250000", "cpu-clock:pppH", "002"],
      [4242, 4244, "cpu-clock", "250000", "cpu-clock:pppH", "003"],
    ]);
    expect(await functions(lines)).toEqual([["[unknown]", "[kernel.kallsyms]", 1], ["memcpy_erms", "/lib/x86_64-linux-gnu/libc.so.6", 1]]);
    expect(r.events[0]!.fields.stack).toBe("memcpy_erms+0x1f (/lib/x86_64-linux-gnu/libc.so.6) <- copy_chunk (/usr/bin/bun)");
  });

  test("no CPU field, no period (perf 4.x default of a task): 'comm pid time: event:'", async () => {
    const lines = [
      "dd 29776 666709.771979: cpu-clock: ",
      "\t          414b3b fsnotify (/lib/modules/4.1.0-virtual/build/vmlinux)",
      "\t          3d6b4c vfs_read (/lib/modules/4.1.0-virtual/build/vmlinux)",
      "",
    ];
    const r = read(lines);
    expect(r.bad).toEqual([]);
    expect(r.events).toHaveLength(1);
    expect(r.events[0]).toMatchObject({ process: "dd", pid: 29776, ts: 666709.771979, name: "cpu-clock" });
    expect(await functions(lines)).toEqual([["fsnotify", "/lib/modules/4.1.0-virtual/build/vmlinux", 1]]);
    expect(r.events[0]!.fields.cpu).toBeUndefined();
  });

  test("no time field (perf script -F comm,pid,tid,cpu,event,ip,sym,dso), with or without ':' after the event: read in file order", async () => {
    const lines = [
      "            blit  4242/4242 [000] cycles:u:  7f3a1c2d3e4f __memmove_avx_unaligned_erms+0x2a (/usr/lib/libc.so.6)",
      "            blit  4242/4243 [001] cycles:u:  55d1c2a3b4c5 copy_chunk (/usr/bin/bun)",
      "             613  4250 [002] cpu-clock: ",
      "\t             613 _Z5alphav (/workdir/simple)",
      "\t             6e9 main (/workdir/simple)",
      "",
      "dd 4251 cpu-clock: ",
      "\t          414b3b fsnotify (/lib/modules/4.1.0-virtual/build/vmlinux)",
      "",
      "            blit  4242/4244 [003] cycles  7f3a1c2d3e4f crc32c (/usr/lib/libz.so.1)",
    ];
    const r = read(lines);
    expect(r.format).toBe("perf-script");
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.process, e.pid, e.tid, e.ts, e.name])).toEqual([
      ["blit", 4242, 4242, 0, "cycles"], ["blit", 4242, 4243, 0, "cycles"], ["613", 4250, 4250, 0, "cpu-clock"], ["dd", 4251, 4251, 0, "cpu-clock"],
      ["blit", 4242, 4244, 0, "cycles"],
    ]);
    expect(await functions(lines)).toEqual([
      ["_Z5alphav", "/workdir/simple", 1], ["__memmove_avx_unaligned_erms", "/usr/lib/libc.so.6", 1], ["copy_chunk", "/usr/bin/bun", 1],
      ["crc32c", "/usr/lib/libz.so.1", 1], ["fsnotify", "/lib/modules/4.1.0-virtual/build/vmlinux", 1],
    ]);
    expect(r.state.notes.join()).toContain("without the time field");
  });

  test("an event name without its ':' (and a payload with ': ' in it)", async () => {
    const lines = [
      "blit  4242 [000] 100.500000:          1 cycles  ffffffff811c2a3b do_sys_open ([kernel.kallsyms])",
      "blit  4242 [000] 100.600000: task-clock  7f00aa sym: with colon (/lib/odd: name.so)",
      "blit  4242 [000] 100.700000: cycles:  add (/usr/bin/calc)",
    ];
    const r = read(lines);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.name, e.fields.period ?? "-"])).toEqual([["cycles", "1"], ["task-clock", "-"], ["cycles", "-"]]);
    // a symbol that looks like an address ("add") is kept when no other symbol follows it
    expect(await functions(lines)).toEqual([["add", "/usr/bin/calc", 1], ["do_sys_open", "[kernel.kallsyms]", 1], ["sym: with colon", "/lib/odd: name.so", 1]]);
  });

  test("comm names with spaces, digits and slashes, and 'comm pid' without tid", () => {
    const r = read([
      "Web Content 3131/3140 [001] 200.000001: cpu-clock: ffffffff81000001 schedule ([kernel.kallsyms])",
      "kworker/1:2 77 [001] 200.000002: cpu-clock: ffffffff81000002 worker_thread ([kernel.kallsyms])",
      "python3 9 5 10 [000] 200.000003: cpu-clock: 7f00 PyEval_EvalFrame (/usr/lib/libpython3.so)",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.process, e.pid, e.tid])).toEqual([["Web Content", 3131, 3140], ["kworker/1:2", 77, 77], ["python3 9 5", 10, 10]]);
  });

  test("PMU events (cpu_core/cycles/) are CPU samples; tracepoints are not", async () => {
    const lines = [
      "blit 1 [000] 1.000001: cpu_core/cycles/u:  7f00 memcpy (/lib/libc.so.6)",
      "blit 1 [000] 1.000002: sched:sched_switch: prev_comm=blit prev_pid=1 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120",
    ];
    const r = read(lines);
    expect(await functions(lines)).toEqual([["memcpy", "/lib/libc.so.6", 1]]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.name, e.kind])).toEqual([["cycles", "other"], ["sched:sched_switch", "context_switch"]]);
  });

  test("CPU samples give the busiest functions in the summary (leaf frames counted per process)", () =>
    withTempDir(async (dir) => {
      const path = join(dir, "cpu.txt");
      const sample = (comm: string, pid: number, t: number, leaf: string) =>
        [`${comm} ${pid}/${pid} [000] ${t.toFixed(6)}:     250000 cpu-clock:pppH: `, `\t ffffffff81000000 ${leaf}+0x10 (/lib/libc.so.6)`, "\t     55d1c2a3b4c5 main (/usr/bin/bun)", ""];
      const lines = [
        ...[1, 2, 3, 4, 5, 6].flatMap((i) => sample("blit", 10, i / 1000, "memcpy")),
        ...[7, 8, 9].flatMap((i) => sample("blit", 10, i / 1000, "crc32")),
        ...[10].flatMap((i) => sample("scanner", 20, i / 1000, "memcpy")),
        "blit 10/10 [000] 0.011000: syscalls:sys_enter_write: fd: 0x00000014, buf: 0x7f2c4c000b78, count: 0x00010000",
        "blit 10/10 [000] 0.011010: syscalls:sys_exit_write: 0x10000",
      ];
      writeFileSync(path, lines.join("\n") + "\n");
      const r = await ingestTrace(path, { storePath: join(dir, "t.duckdb") });
      expect(r.unparsedLines).toBe(0);
      expect(r.summary.cpuSamples).toBe(10);
      expect(r.summary.busiestFunctions).toEqual([
        { process: "blit", function: "memcpy", module: "/lib/libc.so.6", samples: 6, share: 0.6 },
        { process: "blit", function: "crc32", module: "/lib/libc.so.6", samples: 3, share: 0.3 },
        { process: "scanner", function: "memcpy", module: "/lib/libc.so.6", samples: 1, share: 0.1 },
      ]);
      expect(r.summary.tracer).toBeNull(); // perf script samples from outside: no tracer cost
    }));

  test("the public samples: busiest functions are the leaf frames, counted from the raw file", () =>
    withTempDir(async (dir) => {
      const path = fixture("perf-script/speedscope-simple-with-header.txt");
      const lines = rawLines(path);
      const leaves = new Map<string, number>();
      lines.forEach((l, i) => {
        if (/cpu-clock: $/.test(l)) {
          const fn = lines[i + 1]!.trim().split(/\s+/)[1]!;
          leaves.set(fn, (leaves.get(fn) ?? 0) + 1);
        }
      });
      const r = await ingestTrace(path, { storePath: join(dir, "t.duckdb") });
      const top = [...leaves].sort((a, b) => b[1] - a[1])[0]!;
      expect(r.summary.cpuSamples).toBe([...leaves.values()].reduce((a, b) => a + b, 0));
      expect(r.summary.busiestFunctions![0]).toMatchObject({ function: top[0], samples: top[1], module: "/workdir/simple-terminates" });
    }));
});

describe("strace layouts", () => {
  test("-ttt: epoch seconds", () => {
    const r = read([
      '1700000000.123456 openat(AT_FDCWD, "/src/a", O_RDONLY|O_CLOEXEC) = 3',
      '1700000000.123500 read(3, "abc", 65536) = 3',
      "1700000000.123600 close(3) = 0",
    ]);
    expect(r.format).toBe("strace");
    expect(r.bad).toEqual([]);
    expect(r.state.clock).toBe("epoch");
    expect(r.events.map((e) => [e.kind, e.path, e.ts])).toEqual([["open", "/src/a", 1700000000.123456], ["read", "/src/a", 1700000000.1235], ["close", "/src/a", 1700000000.1236]]);
  });

  test("-tt: time of day with microseconds, and -t: whole seconds", () => {
    for (const [stamp, ts] of [["12:00:00.000001", 43200.000001], ["12:00:01", 43201]] as const) {
      const r = read([`${stamp} openat(AT_FDCWD, "/src/a", O_RDONLY) = 3`, `${stamp} close(3) = 0`]);
      expect(r.bad).toEqual([]);
      expect(r.state.clock).toBe("time-of-day");
      expect(r.events.map((e) => e.ts)).toEqual([ts, ts]);
    }
  });

  test("-r: seconds since the previous call, summed", () => {
    const r = read(['     0.000000 execve("/usr/bin/true", ["true"], 0x7ffd /* 20 vars */) = 0', "     0.000250 brk(NULL) = 0x55d1c2a3b000", "     0.000100 exit_group(0) = ?", "     0.000050 +++ exited with 0 +++"]);
    expect(r.bad).toEqual([]);
    expect(r.state.clock).toBe("relative");
    expect(r.events.map((e) => e.ts)).toEqual([0, 0.00025, 0.00035, 0.0004].map((v) => expect.closeTo(v, 9) as unknown as number));
  });

  test("-r with the program's output between the calls: a line like '3.14 seconds left' does not move the clock", () => {
    const r = read([
      '     0.000000 execve("/usr/bin/prog", ["prog"], 0x7ffd /* 20 vars */) = 0',
      '     0.000200 write(1, "3.14 seconds left\\n", 18) = 18',
      "3.14 seconds left",
      "     0.000100 close(1) = 0",
      "     0.000050 +++ exited with 0 +++",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => e.ts)).toEqual([0, 0.0002, 0.0003, 0.00035].map((v) => expect.closeTo(v, 9) as unknown as number));
  });

  test("-T: durations; -f: [pid N] prefix for children, none for the first process", () => {
    const r = read([
      'openat(AT_FDCWD, "/src/a", O_RDONLY) = 3 <0.000011>',
      "clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD) = 77 <0.000100>",
      "[pid    77] read(3, \"x\", 1) = 1 <0.000004>",
      "[pid    77] +++ exited with 0 +++",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.kind, e.tid, e.duration, e.path])).toEqual([
      ["open", null, 0.000011, "/src/a"], ["other", null, 0.0001, null], ["read", 77, 0.000004, "/src/a"], ["other", 77, null, null],
    ]);
  });

  test("-f -o: a pid column on every line (-ff -o writes one file per pid without it)", () => {
    const r = read(['4001  openat(AT_FDCWD, "/src/a", O_RDONLY) = 3', '4002  openat(AT_FDCWD, "/src/b", O_RDONLY) = 3', "4001  read(3, \"x\", 1) = 1"]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.pid, e.path])).toEqual([[4001, "/src/a"], [4002, "/src/b"], [4001, "/src/a"]]);
  });

  test("-y: fds shown with their paths are the calls' files, also when strace did not see the open", () => {
    const r = read([
      '4001 12:00:00.000001 read(7</data/src/big.bin>, "\\177ELF"..., 65536) = 65536',
      '4001 12:00:00.000002 write(8</data/dst/big.bin>, "\\177ELF"..., 65536) = 65536',
      '4001 12:00:00.000003 openat(AT_FDCWD</home/u>, "rel/file", O_RDONLY) = 9</home/u/rel/file>',
      "4001 12:00:00.000004 fstat(9</home/u/rel/file>, {st_mode=S_IFREG|0644, st_size=3, ...}) = 0",
      '4001 12:00:00.000005 newfstatat(10</data/dst>, "x, y", {st_mode=S_IFREG|0644, ...}, 0) = 0',
      "4001 12:00:00.000006 close(7</data/src/big.bin>) = 0",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.kind, e.path, e.bytes])).toEqual([
      ["read", "/data/src/big.bin", 65536], ["write", "/data/dst/big.bin", 65536], ["open", "/home/u/rel/file", null],
      ["stat", "/home/u/rel/file", null], ["stat", "/data/dst/x, y", null], ["close", "/data/src/big.bin", null],
    ]);
  });

  test("-yy: sockets (with '->', commas and quotes) and devices (<char M:m>) read whole", () => {
    const r = read([
      '4001 12:00:00.000001 write(3<TCP:[127.0.0.1:41234->127.0.0.1:9031]>, "\\0\\0\\0\\0\\5", 5) = 5',
      '4001 12:00:00.000002 read(4<UNIX-STREAM:[35153->35152,@"/tmp/.X11-unix/X0"]>, "x", 1) = 1',
      '4001 12:00:00.000003 write(1</dev/pts/0<char 136:0>>, "done\\n", 5) = 5',
      "4001 12:00:00.000004 accept4(5<TCP:[0.0.0.0:9031]>, NULL, NULL, SOCK_CLOEXEC) = 6<TCP:[127.0.0.1:9031->127.0.0.1:41234]>",
      "4001 12:00:00.000005 sendfile(6<TCP:[127.0.0.1:9031->127.0.0.1:41234]>, 7</srv/f>, NULL, 10) = 10",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.name, e.path, e.bytes])).toEqual([
      ["write", "TCP:[127.0.0.1:41234->127.0.0.1:9031]", 5],
      ["read", 'UNIX-STREAM:[35153->35152,@"/tmp/.X11-unix/X0"]', 1],
      ["write", "/dev/pts/0", 5],
      ["accept4", "TCP:[0.0.0.0:9031]", null],
      ["sendfile", "TCP:[127.0.0.1:9031->127.0.0.1:41234]", 10],
    ]);
    expect(r.events[4]!.fields.source).toBe("/srv/f");
  });

  test("-k: the stack frames under each call are its stack (the first 8, leaf first), never unparsed", () => {
    const lines = [
      '12:00:00.000001 openat(AT_FDCWD, "/src/a", O_RDONLY) = 3',
      " > /usr/lib/x86_64-linux-gnu/libc.so.6(__open64+0x5b) [0x1141eb]",
      " > /usr/bin/bun(uv_fs_open+0x1) [0x1234]",
      " > unexpected_backtracing_error [0x7f00aa]",
      '12:00:00.000002 read(3, "x", 1) = 1',
      " > /usr/lib/x86_64-linux-gnu/libc.so.6(read+0x12) [0x114a32]",
    ];
    const r = read(lines);
    expect(r.format).toBe("strace");
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.kind, e.fields.stack])).toEqual([
      ["open", "__open64+0x5b (/usr/lib/x86_64-linux-gnu/libc.so.6) <- uv_fs_open+0x1 (/usr/bin/bun) <- unexpected_backtracing_error"],
      ["read", "read+0x12 (/usr/lib/x86_64-linux-gnu/libc.so.6)"],
    ]);
    expect(r.state.skipped).toEqual({});
    // frames under no call, and beyond a call's first 8, are counted and dropped
    const deep = read([" > /lib/x.so(orphan+0x1) [0x1]", lines[0]!, ...Array.from({ length: 10 }, (_, i) => ` > /lib/x.so(f${i}+0x1) [0x1]`), " > /usr/bin/dash() [0x13652]"]);
    expect(deep.bad).toEqual([]);
    expect(deep.events[0]!.fields.stack!.split(" <- ")).toEqual(Array.from({ length: 8 }, (_, i) => `f${i}+0x1 (/lib/x.so)`));
    expect(Object.values(deep.state.skipped)).toEqual([4]);
    expect(read([lines[0]!, " > /usr/bin/dash() [0x13652]"]).events[0]!.fields.stack).toBe("[0x13652] (/usr/bin/dash)");
    // mostly frames: still strace
    expect(read([lines[0]!, ...Array(12).fill(lines[1]!)]).format).toBe("strace");
  });

  test("<unfinished ...> and <... resumed> across processes become one call each", () => {
    const r = read([
      '[pid 10] 12:00:00.000001 write(4, "abc", 3 <unfinished ...>',
      "[pid 11] 12:00:00.000002 futex(0x7f, FUTEX_WAKE_PRIVATE, 1) = 0",
      "[pid 10] 12:00:00.000003 <... write resumed>) = 3",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.tid, e.name, e.bytes, e.ts])).toEqual([[11, "futex", null, 43200.000002], [10, "write", 3, 43200.000001]]);
  });

  test("signals and exits", () => {
    const r = read([
      "12:00:00.000001 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=12, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---",
      "12:00:00.000002 +++ killed by SIGKILL +++",
      "12:00:00.000003 +++ exited with 3 +++",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.name, e.result, e.failed])).toEqual([["SIGCHLD", null, null], ["exit", "SIGKILL", true], ["exit", "3", true]]);
  });

  test("the program's own output interleaved (strace and the program on one stream): skipped and counted", () => {
    const r = read([
      '4001 12:00:00.000001 openat(AT_FDCWD, "/src/a", O_RDONLY) = 3',
      "copied 3 files",
      "4001 12:00:00.000002 write(1, \"hi\\n\", 3hi",
      ") = 3",
      "4001 12:00:00.000003 write(1, \"a\\nb\\n\", 4a",
      "b",
      ") = 4 <0.000007>",
      "4001 12:00:00.000004 close(3) = 0",
      "progress: 100%",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.name, e.result, e.bytes, e.line])).toEqual([
      ["openat", "3", null, 1], ["write", "3", 3, 3], ["write", "4", 4, 5], ["close", "0", null, 8],
    ]);
    expect(r.events[2]!.duration).toBe(0.000007);
    expect(Object.entries(r.state.skipped)).toEqual([["not strace's (the traced program's own output)", 3]]);
  });

  test("program output without any strace prefix to tell it apart: lines that are no calls are skipped", () => {
    const r = read([
      'openat(AT_FDCWD, "/src/a", O_RDONLY) = 3',
      "Hello from the program",
      "42 files to go",
      "3.14 seconds left",
      'write(1, "hi\\n", 3hi',
      ") = 3",
      "close(3) = 0",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.name, e.result])).toEqual([["openat", "3"], ["write", "3"], ["close", "0"]]);
    // lines that start like a pid column or a -r time are not strace's either, when its lines have none
    expect(Object.values(r.state.skipped)).toEqual([3]);
  });

  test("strace and the program on one terminal, as strace 6.1 printed it (-f -tt -yy, 2>&1)", () => {
    const r = read([
      '06:59:16.489177 write(1<pipe:[1361575]>, "hi\\n", 3hi',
      ") = 3",
      "06:59:16.499510 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLDstrace: Process 3422 attached",
      ", child_tidptr=0x7fa6a6d70a10) = 3422",
      "[pid  3421] 06:59:16.502709 wait4(-1,  <unfinished ...>",
      '[pid  3422] 06:59:16.502880 write(1<pipe:[1361575]>, "child\\n", 6child',
      ") = 6",
      "[pid  3422] 06:59:16.507757 +++ exited with 0 +++",
      "06:59:16.507989 <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 3422",
      "06:59:16.514410 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=3422, si_uid=0, si_status=0, si_utime=0, si_stime=0} ---",
      "06:59:16.517664 +++ exited with 0 +++",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.tid, e.name, e.result, e.path])).toEqual([
      [null, "write", "3", "pipe:[1361575]"],
      [null, "clone", "3422", null],
      [3422, "write", "6", "pipe:[1361575]"],
      [3422, "exit", "0", null],
      [3421, "wait4", "3422", null],
      [null, "SIGCHLD", null, null],
      [null, "exit", "0", null],
    ]);
    expect(r.events[1]!.fields.args).toContain("child_tidptr=0x7fa6a6d70a10");
  });

  test("a call broken by output and interrupted by another process resumes as usual", () => {
    const r = read([
      "[pid 10] 12:00:00.000001 write(1, \"hi\\n\", 3hi",
      " <unfinished ...>",
      "[pid 11] 12:00:00.000002 close(5) = 0",
      "[pid 10] 12:00:00.000003 <... write resumed>) = 3",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => [e.tid, e.name, e.result])).toEqual([[11, "close", "0"], [10, "write", "3"]]);
  });

  test("a lone ' <unfinished ...>' (the end of a line the program's output broke) is strace's, not the program's", () => {
    const r = read([
      "[pid 10] 12:00:00.000001 write(1, \"a\\n\", 2a",
      "more output",
      ") = 2",
      " <unfinished ...>",
      "[pid 10] 12:00:00.000002 close(1) = 0",
    ]);
    expect(r.bad).toEqual([]);
    expect(r.events.map((e) => e.name)).toEqual(["write", "close"]);
    expect(Object.values(r.state.skipped)).toEqual([1]);
  });

  test("a call line cut at the end of the file is still reported as unparsed", () => {
    const r = read(['4001 12:00:00.000001 openat(AT_FDCWD, "/src/a", O_RDONLY) = 3', '4001 12:00:00.000002 read(3, "ab']);
    expect(r.bad.map((b) => [b.line, b.reason])).toEqual([[2, "'read' has no ' = result'"]]);
  });

  test("detection: each layout is strace, never perf script", () =>
    withTempDir((dir) => {
      for (const [i, text] of [
        " > /lib/x.so(f+0x1) [0x1]\n12:00:00.000001 read(3, \"x\", 1) = 1\n > /lib/x.so(g+0x1) [0x2]\n > /lib/x.so(h+0x1) [0x3]\n",
        "[pid 7] 1700000000.000001 read(3</a>, \"x\", 1) = 1\n",
        "4001  openat(AT_FDCWD, \"/src/a\", O_RDONLY) = 3\n     0.000250 brk(NULL) = 0x55d1c2a3b000\n",
      ].entries()) {
        const path = join(dir, `t${i}`);
        writeFileSync(path, text);
        expect(detectFormat(path)).toBe("strace");
      }
    }));

  test("detection: perf script without times, with or without ':' after the event, is perf script", () =>
    withTempDir((dir) => {
      for (const [i, text] of [
        "            blit  4242/4244 [003] cycles  7f3a1c2d3e4f crc32c (/usr/lib/libz.so.1)\n",
        "dd 4251 cpu-clock: \n\t          414b3b fsnotify (/lib/modules/vmlinux)\n",
      ].entries()) {
        const path = join(dir, `p${i}`);
        writeFileSync(path, text);
        expect(detectFormat(path)).toBe("perf-script");
      }
    }));
});

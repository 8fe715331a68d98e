// `blit diagnose --ai` end to end, on a store made by real runs of the real CLI: the full-screen UI
// in a real terminal (tmux: send keys, read the pane), the Markdown printed when stdout is not a
// terminal, and --ai-preview / --redact.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import type { RunReport } from "../../engine/index.ts";
import { hasTool } from "../helpers/index.ts";
import { cli, join, makeTree, mockModelServer, PROJECT_ROOT, tempDir } from "./helpers.ts";

const tmp = tempDir();
const home = join(tmp.dir, "home");
let throttled: RunReport;
let ordinary: RunReport;

beforeAll(async () => {
  const src = makeTree(join(tmp.dir, "src"), 400, 3000);
  for (let i = 0; i < 3; i++) {
    const r = await cli(["mirror", src, join(tmp.dir, `dst${i}`), "--json"], home);
    if (r.code !== 0) throw new Error(r.stderr);
    ordinary = JSON.parse(r.stdout) as RunReport;
  }
  const slow = makeTree(join(tmp.dir, "throttled"), 150, 10_000);
  const r = await cli(["mirror", slow, join(tmp.dir, "throttled-dst"), "--bwlimit", "1M", "--json"], home);
  if (r.code !== 0) throw new Error(r.stderr);
  throttled = JSON.parse(r.stdout) as RunReport;
}, 60_000);

afterAll(() => tmp.remove());

describe("when stdout is not a terminal", () => {
  test("a flagged run prints as Markdown naming the cause and a suggestion, with the command to try", async () => {
    const r = await cli(["diagnose", "--ai", throttled.id.slice(0, 8)], home);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const md = r.stdout;
    expect(md).toContain(`## Run \`${throttled.id}\``);
    expect(md).toMatch(/\*\*Actual [\d.]+ (ms|s|min)\*\* against predicted/);
    expect(md).toContain("### Phases");
    // The cause's kind first, the machine around the run, and its timeline as the run page draws them.
    expect(md).toMatch(/### Causes\n\n- bwlimit\s+The transfer was throttled/);
    expect(md).toMatch(/### Machine\n\n- cpu\s+blit [\d.]+ m?s user/);
    expect(md).toMatch(/### Timeline\n\n```\nthroughput\s+[▁▂▃▄▅▆▇█]{60} peak [\d.]+ (KiB|MiB)\/s\n/);
    expect(md).toContain("- i throttled: moved");
    expect(md).toContain("Answered by: offline rules.");
    expect(md).toMatch(/\*\*Cause 1\*\* \(high confidence\) \[E\d+(, E\d+)*\]: The transfer was throttled by --bwlimit/);
    expect(md).toMatch(/\*\*Suggestion 1\*\* \(`--bwlimit 0`\) \[E\d+(, E\d+)*\]: Lift the limit/);
    expect(md).toMatch(/- E\d+ bandwidth limit: 1,048,576 bytes\/s/);
    expect(md).toContain(`Try: \`blit mirror ${join(tmp.dir, "throttled")} ${join(tmp.dir, "throttled-dst")} --bwlimit 0\``);
  });

  test("without a run id, the run list as Markdown", async () => {
    const r = await cli(["diagnose", "--ai"], home);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("## Recent runs");
    expect(r.stdout).toContain("4 runs; explainer: offline rules.");
    expect(r.stdout).toMatch(/Throughput: `[▁▂▃▄▅▆▇█]+`/);
    expect(r.stdout).toMatch(new RegExp(`\\| mirror/local \\| 150 files, 1\\.4 MiB \\| .* \\| i throttled \\| \`${throttled.id}\` \\|`));
  });

  test("with a model that is down, the rules answer and the notice is printed", async () => {
    const server = mockModelServer();
    try {
      server.setReply(() => Response.json({ error: { message: "rate" } }, { status: 429 }));
      const proc = Bun.spawn([process.execPath, join(PROJECT_ROOT, "tui/blit.ts"), "diagnose", "--ai", throttled.id], {
        cwd: PROJECT_ROOT,
        env: { ...process.env, BLIT_HOME: home, OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: "k", BLIT_AI_MODEL: "m1" },
        stdout: "pipe",
        stderr: "pipe",
      });
      const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
      expect(code).toBe(0);
      expect(out).toContain("> **Notice:** model m1: rate limited (HTTP 429); the offline rules answered instead");
      expect(out).toContain("Answered by: offline rules.");
      expect(out).toContain("The transfer was throttled by --bwlimit");
      expect(server.calls).toHaveLength(1);
    } finally {
      server.stop();
    }
  });

  test("--ai-preview prints what would be sent and sends nothing; --redact hides paths", async () => {
    const server = mockModelServer();
    try {
      const run = (args: string[]) =>
        Bun.spawnSync([process.execPath, join(PROJECT_ROOT, "tui/blit.ts"), "diagnose", ...args], {
          cwd: PROJECT_ROOT,
          env: { ...process.env, BLIT_HOME: home, OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: "secret-key", BLIT_AI_MODEL: "m1" },
        });
      const plain = run(["--ai-preview", throttled.id]);
      const text = plain.stdout.toString();
      expect(plain.exitCode).toBe(0);
      expect(text).toContain("nothing was sent");
      expect(text).toContain(`POST ${server.baseURL}/chat/completions`);
      expect(text).toContain(join(tmp.dir, "throttled"));
      expect(text).not.toContain("secret-key");
      const body = JSON.parse(text.slice(text.indexOf("Request body:\n") + "Request body:\n".length));
      expect(body.model).toBe("m1");
      expect(body.response_format.type).toBe("json_schema");

      const redacted = run(["--ai-preview", throttled.id, "--redact"]).stdout.toString();
      const redactedBody = redacted.slice(redacted.indexOf("Request body:"));
      expect(redactedBody).not.toContain(tmp.dir);
      expect(redactedBody).toContain("<path-1> -> <path-2>");
      expect(redacted).toContain(`<path-1> = ${join(tmp.dir, "throttled")}`);
      expect(server.calls).toHaveLength(0);
    } finally {
      server.stop();
    }
  });

  test("bad combinations are usage errors", async () => {
    for (const args of [["--ai", "--format", "json"], ["--redact"], ["--ai", "--ai-preview"], ["--ai", "--ai-timeout", "soon"]]) {
      const r = await cli(["diagnose", ...args], home);
      expect(r.code).toBe(2);
      expect(r.stderr).toStartWith("blit: ");
    }
  });
});

const HAS_TMUX = hasTool("tmux", "the diagnose UI in a real terminal", "apt-get install tmux");

describe.skipIf(!HAS_TMUX)("in a real terminal (tmux)", () => {
  const socket = `blit-test-${process.pid}`;
  const tmux = (...args: string[]) => spawnSync("tmux", ["-L", socket, ...args], { encoding: "utf8" });
  const pane = () => tmux("capture-pane", "-p", "-t", "ai").stdout;
  async function waitFor(text: string | RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const screen = pane();
      if (typeof text === "string" ? screen.includes(text) : text.test(screen)) return screen;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(text)}; the pane shows:\n${screen}`);
      await Bun.sleep(100);
    }
  }

  test("navigates to a run, opens its explanation, shows the numbers, quits", async () => {
    const command = `cd ${PROJECT_ROOT} && env -u OPENAI_API_KEY -u OPENAI_BASE_URL -u BLIT_AI_MODEL BLIT_HOME=${home} ${process.execPath} tui/blit.ts diagnose --ai`;
    try {
      expect(tmux("new-session", "-d", "-s", "ai", "-x", "160", "-y", "48", command).status).toBe(0);
      // Scored: the throttled run (newest, under the cursor) carries the "i" mark.
      let screen = await waitFor(new RegExp(`^> .*\\si\\s+${throttled.id.slice(0, 8)}`, "m"));
      expect(screen).toContain("explainer: offline rules");
      expect(screen).toContain("4 of 4 recent runs shown, 4 in the store");
      // The newest run (the throttled one) is first; go down and back up, then open it.
      tmux("send-keys", "-t", "ai", "Down");
      await waitFor(new RegExp(`^> .*${ordinary.id.slice(0, 8)}`, "m"));
      tmux("send-keys", "-t", "ai", "Up");
      await waitFor(new RegExp(`^> .*${throttled.id.slice(0, 8)}`, "m"));
      tmux("send-keys", "-t", "ai", "Enter");
      screen = await waitFor("Phases");
      expect(screen).toContain(`Run ${throttled.id}`);
      expect(screen).toMatch(/Actual [\d.]+ (ms|s|min) vs predicted/);
      tmux("send-keys", "-t", "ai", "e");
      screen = await waitFor("answered by: offline rules");
      expect(screen).toContain("The transfer was throttled by --bwlimit");
      expect(screen).toMatch(/Suggestion 1 \[E\d+(, E\d+)*\] --bwlimit 0/);
      expect(screen).toContain("Try: blit mirror");
      tmux("send-keys", "-t", "ai", "n");
      screen = await waitFor("Numbers behind Cause 1:");
      expect(screen).toMatch(/E\d+\s+bandwidth limit: 1,048,576 bytes\/s/);
      tmux("send-keys", "-t", "ai", "q");
      const deadline = Date.now() + 5000;
      while (tmux("has-session", "-t", "ai").status === 0 && Date.now() < deadline) await Bun.sleep(100);
      expect(tmux("has-session", "-t", "ai").status).not.toBe(0);
    } finally {
      tmux("kill-server");
      // kill-server leaves the socket file behind
      rmSync(`${process.env.TMUX_TMPDIR ?? "/tmp"}/tmux-${process.getuid?.() ?? 0}/${socket}`, { force: true });
    }
  }, 30_000);
});

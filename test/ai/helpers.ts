// Helpers for the `diagnose --ai` suites: a fake terminal for Ink (stdout that keeps frames, stdin
// that takes keys, as ink's own tests do), a small OpenAI-compatible server on loopback, and
// stores filled with real or synthetic runs in `blit-test-*` temp dirs.
import { EventEmitter } from "node:events";
import { join } from "node:path";
import type { ReactElement } from "react";
import { render, type Instance } from "ink";
import { record, type Evidence } from "../../analytics/index.ts";
import type { RunReport } from "../../engine/index.ts";
import { realisticMs, seeded, syntheticReport } from "../diagnose/helpers.ts";

export { cli, fakeIo, makeTree, realRun, tempDir, syntheticReport, realisticMs, seeded, PROJECT_ROOT } from "../diagnose/helpers.ts";

const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[=>]/g;
export const stripAnsi = (s: string) => s.replace(ANSI, "");

/** A terminal's stdout as Ink sees it: a size, isTTY, and every frame written. */
export class FakeStdout extends EventEmitter {
  readonly frames: string[] = [];
  isTTY = true;
  constructor(public columns = 160, public rows = 48) {
    super();
  }
  write(text: string, callback?: () => void): boolean {
    if (text !== "") this.frames.push(text);
    callback?.();
    return true;
  }
  /** The last full frame, without colours. */
  lastFrame(): string {
    for (let i = this.frames.length - 1; i >= 0; i--) {
      const f = stripAnsi(this.frames[i]!);
      if (f.trim() !== "") return f;
    }
    return "";
  }
}

/** A terminal's stdin in raw mode: `press` queues keys and tells Ink they are readable. */
export class FakeStdin extends EventEmitter {
  isTTY = true;
  private queue: string[] = [];
  setRawMode(): this {
    return this;
  }
  setEncoding(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  read(): string | null {
    return this.queue.shift() ?? null;
  }
  press(keys: string): void {
    this.queue.push(keys);
    this.emit("readable");
  }
}

export const KEY = { up: "\x1b[A", down: "\x1b[B", left: "\x1b[D", enter: "\r", escape: "\x1b", backspace: "\x7f" } as const;

export interface Screen {
  stdout: FakeStdout;
  stdin: FakeStdin;
  instance: Instance;
  frame(): string;
  /** Waits until the current frame contains `text` (or matches it); throws with the frame after `timeoutMs`. */
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<string>;
  press(keys: string): Promise<void>;
  unmount(): void;
}

/** Renders `element` into a fake 160×48 terminal (debug mode: every frame written whole). */
export function renderScreen(element: ReactElement, columns = 160, rows = 48): Screen {
  const stdout = new FakeStdout(columns, rows);
  const stdin = new FakeStdin();
  const instance = render(element, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    debug: true,
    interactive: true,
    patchConsole: false,
    exitOnCtrlC: false,
  });
  const frame = () => stdout.lastFrame();
  return {
    stdout,
    stdin,
    instance,
    frame,
    async waitFor(text, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      const hit = () => (typeof text === "string" ? frame().includes(text) : text.test(frame()));
      while (!hit()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(text)}; the screen shows:\n${frame()}`);
        await Bun.sleep(10);
      }
      return frame();
    },
    async press(keys) {
      stdin.press(keys);
      // A lone Esc is held briefly by Ink's parser (it may start a sequence).
      await Bun.sleep(keys === KEY.escape ? 80 : 30);
    },
    unmount: () => instance.unmount(),
  };
}

export interface ChatCall {
  body: { model: string; messages: { role: string; content: string }[]; response_format?: unknown };
  evidence: Evidence[];
}

export type ChatReply = (call: ChatCall) => Response | Promise<Response>;

/** An OpenAI-compatible chat-completions server on 127.0.0.1, port 0; `reply` decides each answer. */
export function mockModelServer() {
  let reply: ChatReply = () => new Response("no reply set", { status: 500 });
  const calls: ChatCall[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (req.method !== "POST" || url.pathname !== "/v1/chat/completions") return new Response("not found", { status: 404 });
      const body = (await req.json()) as ChatCall["body"];
      const user = body.messages.find((m) => m.role === "user")?.content ?? "{}";
      const call = { body, evidence: (JSON.parse(user) as { evidence: Evidence[] }).evidence };
      calls.push(call);
      return reply(call);
    },
  });
  return {
    baseURL: `http://127.0.0.1:${server.port}/v1`,
    calls,
    setReply(r: ChatReply) {
      reply = r;
    },
    stop: () => server.stop(true),
  };
}

/** A chat completion whose message content is `content`. */
export function completion(content: string, model = "test-model"): Response {
  return Response.json({
    id: "chatcmpl-test",
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, finish_reason: "stop", message: { role: "assistant", content, refusal: null } }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  });
}

/** The id of the fact with `key` in a request's evidence. */
export function idOf(call: ChatCall, key: string): string {
  const e = call.evidence.find((x) => x.key === key);
  if (!e) throw new Error(`no fact ${key} in the request`);
  return e.id;
}

/**
 * A synthetic history: 30 ordinary nightly mirrors, then a run slowed by outside load, and an
 * enumeration-bound run. Returns the store path and the reports.
 */
export async function syntheticStore(store: string) {
  const start = Date.parse("2025-03-01T02:00:00Z");
  const random = seeded(7);
  const ordinary: RunReport[] = [];
  for (let i = 0; i < 30; i++) {
    const files = 4000 + Math.round(random() * 1000);
    const bytes = 40e6 + Math.round(random() * 20e6);
    const r = syntheticReport({ files, bytes, totalMs: realisticMs(files, bytes, Math.exp((random() - 0.5) * 0.2)), startedAt: new Date(start + i * 86_400_000) });
    ordinary.push(r);
    await record(r, { path: store });
  }
  const slow = syntheticReport({ files: 4500, bytes: 50e6, totalMs: realisticMs(4500, 50e6, 3), startedAt: new Date(start + 40 * 86_400_000) });
  await record(slow, { path: store });
  const enumeration = syntheticReport({ files: 200_000, bytes: 2e9, copied: 0, totalMs: 6000, enumerateShare: 0.9, startedAt: new Date(start + 42 * 86_400_000) });
  await record(enumeration, { path: store });
  return { ordinary, slow, enumeration };
}

export { join };

// Headless Chromium driven over the Chrome DevTools Protocol with Bun's WebSocket (no puppeteer):
// open a file, wait for its charts, read what the page logged and requested, evaluate, screenshot.
// Launched with the network cut (a proxy that refuses, every host name unresolvable), so a page that
// tries to fetch anything shows it as a request, and fails.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The chromium binary, or undefined (tests skip and say why). */
export const CHROMIUM = Bun.which("chromium") ?? Bun.which("chromium-browser") ?? undefined;

export interface PageEvents {
  exceptions: string[];
  consoleErrors: string[];
  logErrors: string[];
  /** Every URL the page asked for (Network.requestWillBeSent). */
  requests: string[];
}

export interface Browser {
  /** Opens `file` in the page and waits for load and for window.blitReady; returns what happened. */
  open(file: string): Promise<PageEvents>;
  /** Evaluates `expression` in the page (awaiting a promise) and returns its value. */
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of the whole page. */
  screenshot(): Promise<Buffer>;
  close(): Promise<void>;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/** Starts chromium (its own process group, its own profile dir) and connects to its page. */
export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "blit-chromium-"));
  const proc = spawn(CHROMIUM!, [
    "--headless=new", "--no-sandbox", "--remote-debugging-port=0", `--user-data-dir=${profile}`,
    "--disable-gpu", "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions", "--window-size=1280,1000",
    // The network off: every proxied request goes to a closed port, loopback included, and no name resolves.
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--host-resolver-rules=MAP * ~NOTFOUND",
    "about:blank",
  ], { detached: true, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (b: Buffer) => void (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => (proc.exitCode !== null ? resolve() : proc.once("exit", () => resolve())));
  const stop = async () => {
    await stopChromium(proc, exited);
    rmSync(profile, { recursive: true, force: true });
  };
  try {
    const port = await devToolsPort(profile, proc, () => stderr);
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { type: string; webSocketDebuggerUrl: string }[];
    const page = targets.find((t) => t.type === "page");
    if (!page) throw new Error("chromium has no page target");
    return await connect(page.webSocketDebuggerUrl, stop);
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * SIGTERM to chromium itself first, so that it ends and reaps its helper processes (killed all at
 * once they would be orphans, left as zombies where PID 1 does not reap); then SIGKILL to its
 * process group for whatever is left.
 */
async function stopChromium(proc: ChildProcess, exited: Promise<void>): Promise<void> {
  if (proc.pid === undefined) return;
  if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
  await Promise.race([exited, Bun.sleep(5_000)]);
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    // the group is gone
  }
}

/** The port chromium chose, from PROFILE/DevToolsActivePort (first line). */
async function devToolsPort(profile: string, proc: ChildProcess, stderr: () => string): Promise<number> {
  const file = join(profile, "DevToolsActivePort");
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const port = Number(readFileSync(file, "utf8").split("\n")[0]);
      if (port > 0) return port;
    }
    if (proc.exitCode !== null) throw new Error(`chromium exited (${proc.exitCode}): ${stderr()}`);
    await Bun.sleep(50);
  }
  throw new Error(`chromium wrote no DevToolsActivePort in 30 s: ${stderr()}`);
}

async function connect(url: string, stop: () => Promise<void>): Promise<Browser> {
  const ws = new WebSocket(url);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
  let next = 1;
  const pending = new Map<number, Pending>();
  const listeners: ((method: string, params: any) => void)[] = [];
  ws.onmessage = (m) => {
    const msg = JSON.parse(String(m.data));
    if (msg.id !== undefined) {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
      else p?.resolve(msg.result);
    } else {
      for (const l of listeners) l(msg.method, msg.params);
    }
  };
  const send = (method: string, params: object = {}): Promise<any> =>
    new Promise((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
  const events: PageEvents = { exceptions: [], consoleErrors: [], logErrors: [], requests: [] };
  listeners.push((method, params) => {
    if (method === "Runtime.exceptionThrown") events.exceptions.push(params.exceptionDetails?.exception?.description ?? params.exceptionDetails?.text ?? "exception");
    if (method === "Runtime.consoleAPICalled" && params.type === "error") events.consoleErrors.push(params.args.map((a: any) => a.value ?? a.description).join(" "));
    if (method === "Log.entryAdded" && params.entry.level === "error") events.logErrors.push(`${params.entry.text} ${params.entry.url ?? ""}`);
    if (method === "Network.requestWillBeSent") events.requests.push(params.request.url);
  });
  for (const domain of ["Runtime", "Log", "Network", "Page"]) await send(`${domain}.enable`);
  const evaluate = async <T>(expression: string): Promise<T> => {
    const r = await send("Runtime.evaluate", { expression, awaitPromise: true, returnByValue: true });
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  };
  return {
    async open(file) {
      for (const list of Object.values(events)) list.length = 0;
      const loaded = new Promise<void>((resolve) => listeners.push((method) => method === "Page.loadEventFired" && resolve()));
      const nav = await send("Page.navigate", { url: Bun.pathToFileURL(file).href });
      if (nav.errorText) throw new Error(`chromium could not open ${file}: ${nav.errorText}`);
      await Promise.race([loaded, Bun.sleep(20_000).then(() => { throw new Error(`${file} did not load in 20 s`); })]);
      // The charts are drawn by the page's script; wait for it, then for two frames of painting.
      const deadline = Date.now() + 10_000;
      while (!(await evaluate<boolean>("window.blitReady === true")) && Date.now() < deadline) await Bun.sleep(50);
      await evaluate("new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))");
      return { exceptions: [...events.exceptions], consoleErrors: [...events.consoleErrors], logErrors: [...events.logErrors], requests: [...events.requests] };
    },
    evaluate,
    async screenshot() {
      const r = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true });
      return Buffer.from(r.data as string, "base64");
    },
    async close() {
      ws.close();
      await stop();
    },
  };
}

/**
 * For each chart on the page: its id, the points uPlot holds (window.blitCharts) and how many
 * pixels of its canvas are coloured (not white, black or grey): the series drawn, not the grid.
 */
export const CHART_PIXELS = `(() => [...document.querySelectorAll(".chart")].map((div) => {
  const canvas = div.querySelector("canvas");
  if (!canvas) return { id: div.id, colored: 0, painted: 0 };
  const { width, height } = canvas;
  const px = canvas.getContext("2d").getImageData(0, 0, width, height).data;
  let colored = 0, painted = 0;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] === 0) continue;
    painted++;
    const r = px[i], g = px[i + 1], b = px[i + 2];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 40) colored++;
  }
  return { id: div.id, width, height, colored, painted };
}))()`;

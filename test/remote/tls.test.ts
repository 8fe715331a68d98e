// TLS between blit and blitd (blits:// URLs): certificates made with openssl at test time, a
// real blitd, the real CLI. Attacks: an expired certificate, a certificate for another host, an
// unknown CA, a changed key, a first use without consent, plaintext off loopback, TLS 1.2; and
// the auth token and file contents never in clear on the wire (tcpdump on loopback), with a
// plaintext run as the control that the capture would have seen them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { normalizeConfig } from "../../daemon/index.ts";
import { getRun, listRuns } from "../../analytics/index.ts";
import { blit, cleanup, diffR, makeTree, moduleToml, REPO, startBlitd, tempDir, type Daemon } from "./helpers.ts";

const OPENSSL = Bun.which("openssl");
const TCPDUMP = Bun.which("tcpdump");
if (!OPENSSL) console.warn("tls.test.ts: skipped: openssl is not installed (apt-get install openssl)");

function openssl(args: string[], cwd: string): void {
  const r = Bun.spawnSync([OPENSSL!, ...args], { cwd, stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${r.stderr.toString()}`);
}

/** A CA, and certificates it signs for `san` (P-256 keys), at test time. */
function makePki(dir: string) {
  mkdirSync(dir, { recursive: true });
  const ca = (name: string) => openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.crt`, "-days", "2", "-subj", `/CN=${name}`], dir);
  ca("ca");
  ca("other-ca");
  const leaf = (name: string, san: string, days: string, key = name) => {
    if (key === name) openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
    else openssl(["req", "-new", "-key", `${key}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`], dir);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", `${name}.crt`, "-days", days, "-extfile", `${name}.ext`], dir);
    return { cert: join(dir, `${name}.crt`), key: join(dir, `${key}.key`) };
  };
  return {
    ca: join(dir, "ca.crt"),
    otherCa: join(dir, "other-ca.crt"),
    good: leaf("good", "DNS:localhost,IP:127.0.0.1", "2"),
    // notAfter one day before notBefore: expired from the start
    expired: leaf("expired", "DNS:localhost,IP:127.0.0.1", "-1", "good"),
    elsewhere: leaf("elsewhere", "DNS:elsewhere.example", "2"),
  };
}

const tlsToml = (cert: string, key: string, extra = "") => `tls_cert_file = ${JSON.stringify(cert)}\ntls_key_file = ${JSON.stringify(key)}\n${extra}`;

/** The fingerprint blitd logs at start. */
function loggedFingerprint(d: Daemon): string {
  const m = /key fingerprint (SHA256:\S+)/.exec(d.stderr());
  if (!m) throw new Error(`no fingerprint in blitd's log: ${d.stderr()}`);
  return m[1]!;
}

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await Bun.sleep(20);
}

describe.skipIf(!OPENSSL)("TLS", () => {
  let dir: string;
  let pki: ReturnType<typeof makePki>;
  let src: string;
  let mod: string;
  let d: Daemon;
  let expiredD: Daemon;
  let elsewhereD: Daemon;
  let home: string;
  const env = () => ({ BLIT_HOME: home });
  const url = (daemon: Daemon, host = "127.0.0.1") => `blits://${host}:${daemon.port}`;

  beforeAll(async () => {
    dir = tempDir("tls-");
    pki = makePki(join(dir, "pki"));
    src = join(dir, "src");
    makeTree(src, { files: 20, big: 3 << 20 });
    mod = join(dir, "mod");
    mkdirSync(mod);
    const mods = moduleToml({ data: { path: mod, readOnly: false } }, "");
    d = await startBlitd(dir, tlsToml(pki.good.cert, pki.good.key) + mods);
    expiredD = await startBlitd(dir, tlsToml(pki.expired.cert, pki.expired.key) + mods, ["--quiet"]);
    elsewhereD = await startBlitd(dir, tlsToml(pki.elsewhere.cert, pki.elsewhere.key) + mods);
    await waitFor(() => /key fingerprint/.test(d.stderr() + expiredD.stderr()), 2000);
  });

  afterAll(async () => {
    for (const x of [d, expiredD, elsewhereD]) await x?.stop();
    cleanup(dir);
  });

  test("blitd logs its key fingerprint (even with --quiet), and warns about an expired certificate", async () => {
    await waitFor(() => /expired/.test(expiredD.stderr()), 2000);
    expect(loggedFingerprint(d)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(expiredD.stderr()).toMatch(/warning: the certificate in '.*expired\.crt' expired on/);
    expect(loggedFingerprint(expiredD)).toBe(loggedFingerprint(d)); // same key; logged even with --quiet
  });

  test("push and pull over TLS, on the TCP and the gRPC data path: bytes match, the report says tls", async () => {
    home = tempDir("tls-home-");
    try {
      for (const mode of ["tcp", "grpc"] as const) {
        const force = mode === "grpc" ? ["--force-grpc"] : [];
        const push = await blit(["push", src, `${url(d)}/data/${mode}`, "--json", "--tls-ca", pki.ca, ...force], env());
        expect(push.stderr).toBe("");
        expect(push.code).toBe(0);
        const r = JSON.parse(push.stdout);
        expect(r.transport).toMatchObject({ kind: mode, tls: true });
        expect(r.fastPathNotes.tls).toContain("verified by --tls-ca");
        expect((await diffR(src, join(mod, mode))).same).toBe(true);
        const dst = join(dir, `pulled-${mode}`);
        const pull = await blit(["pull", `${url(d)}/data/${mode}`, dst, "--json", "--tls-ca", pki.ca, ...force], env());
        expect(pull.code).toBe(0);
        expect(JSON.parse(pull.stdout).transport).toMatchObject({ kind: mode, tls: true });
        expect((await diffR(src, dst)).same).toBe(true);
      }
      const text = await blit(["push", src, `${url(d)}/data/tcp`, "-I", "--tls-ca", pki.ca], env());
      expect(text.stdout).toContain("data via tcp+tls");
      // blit check reads a blits:// side the same way
      const check = Bun.spawn([process.execPath, join(REPO, "tui/blit.ts"), "check", src, `${url(d)}/data/tcp`, "--tls-ca", pki.ca], { stdout: "pipe", stderr: "pipe", env: { ...process.env, BLIT_TELEMETRY: "off", ...env() } });
      const [checkCode, checkErr] = await Promise.all([check.exited, new Response(check.stderr).text()]);
      expect(checkErr).toBe("");
      expect(checkCode).toBe(0);
    } finally {
      cleanup(home);
    }
  });

  test("with --tls-ca: an expired certificate, one for another host, and one from another CA are refused", async () => {
    home = tempDir("tls-home-");
    try {
      const expired = await blit(["ls", `${url(expiredD, "localhost")}/data`, "--tls-ca", pki.ca], env());
      expect(expired.code).toBe(2);
      expect(expired.stderr).toMatch(/not trusted by --tls-ca .*expired/i);
      const wrongHost = await blit(["ls", `${url(elsewhereD, "localhost")}/data`, "--tls-ca", pki.ca], env());
      expect(wrongHost.code).toBe(2);
      expect(wrongHost.stderr).toContain("is not for 'localhost' (it names DNS:elsewhere.example)");
      const otherCa = await blit(["push", src, `${url(d, "localhost")}/data/x`, "--tls-ca", pki.otherCa], env());
      expect(otherCa.code).toBe(2);
      expect(otherCa.stderr).toMatch(/not trusted by --tls-ca '.*other-ca\.crt'/);
      const noCa = await blit(["ls", `${url(d)}/data`, "--tls-ca", join(dir, "no-such-ca.pem")], env());
      expect(noCa.code).toBe(2);
      expect(noCa.stderr).toContain("no-such-ca.pem' is not a readable PEM certificate (ENOENT)");
      // the same certificate by its right name and CA is accepted (by name and by IP address)
      for (const host of ["localhost", "127.0.0.1"]) {
        const ok = await blit(["ls", `${url(d, host)}/data`, "--tls-ca", pki.ca], env());
        expect(ok.stderr).toBe("");
        expect(ok.code).toBe(0);
      }
    } finally {
      cleanup(home);
    }
  });

  test("pinning: first use refused without consent; --tls-accept-new records the key; a changed key is refused naming the line", async () => {
    home = tempDir("tls-home-");
    const known = join(home, "known_daemons");
    const fp = loggedFingerprint(d);
    try {
      const first = await blit(["push", src, `${url(d)}/data/pin`], env());
      expect(first.code).toBe(2);
      expect(first.stderr).toContain(`is not in ${known}; its key is ${fp}`);
      expect(first.stderr).toContain("--tls-accept-new");
      expect(existsSync(known)).toBe(false);
      expect(existsSync(join(mod, "pin"))).toBe(false); // refused before Negotiate

      const accepted = await blit(["push", src, `${url(d)}/data/pin`, "--tls-accept-new"], env());
      expect(accepted.code).toBe(0);
      expect(accepted.stdout).toContain(`key ${fp} of a new daemon added to ${known}`);
      expect(readFileSync(known, "utf8")).toContain(`127.0.0.1:${d.port} ${fp}\n`);
      expect((await diffR(src, join(mod, "pin"))).same).toBe(true);

      const again = await blit(["pull", `${url(d)}/data/pin`, join(dir, "pin-back")], env());
      expect(again.code).toBe(0);
      expect(again.stdout).toContain(`pinned in ${known}`);

      // The daemon's key "changed": the file holds another one for this host and port.
      const other = "SHA256:" + "A".repeat(43);
      writeFileSync(known, `# comment\nexample.org:9031 ${fp}\n127.0.0.1:${d.port} ${other}\n`);
      for (const args of [["ls", `${url(d)}/data`], ["push", src, `${url(d)}/data/pin`, "--tls-accept-new"]]) {
        const changed = await blit(args, env());
        expect(changed.code).toBe(2);
        expect(changed.stderr).toContain(`has CHANGED: ${known} line 3 says ${other}, the daemon showed ${fp}`);
        expect(changed.stderr).toContain(`remove line 3 of ${known}`);
      }
    } finally {
      cleanup(home);
    }
  });

  test("--tls-fingerprint: a match is accepted and recorded, another key is refused", async () => {
    home = tempDir("tls-home-");
    const fp = loggedFingerprint(d);
    try {
      const wrong = await blit(["ls", `${url(d)}/data`, "--tls-fingerprint", "SHA256:" + "B".repeat(43)], env());
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toContain(`is ${fp}, not the SHA256:${"B".repeat(43)} given with --tls-fingerprint`);
      // a hand-edited file without its last newline keeps its lines apart
      writeFileSync(join(home, "known_daemons"), `example.org:9031 ${fp}`);
      const right = await blit(["ls", `${url(d)}/data`, "--tls-fingerprint", fp], env());
      expect(right.code).toBe(0);
      expect(readFileSync(join(home, "known_daemons"), "utf8")).toBe(`example.org:9031 ${fp}\n127.0.0.1:${d.port} ${fp}\n`);
      const bad = await blit(["ls", `${url(d)}/data`, "--tls-fingerprint", "ab:cd"], env());
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("--tls-fingerprint 'ab:cd' is not a key fingerprint");
    } finally {
      cleanup(home);
    }
  });

  test("TLS flags with a blit:// URL are refused; a plaintext client of a TLS daemon is told about blits://, and the reverse", async () => {
    home = tempDir("tls-home-");
    let plainD: Daemon | undefined;
    try {
      const flags = await blit(["ls", `blit://127.0.0.1:${d.port}/data`, "--tls-accept-new"], env());
      expect(flags.code).toBe(2);
      expect(flags.stderr).toContain("--tls-accept-new apply to a daemon that speaks TLS: write the URL as blits://");
      const plain = await blit(["ls", `blit://127.0.0.1:${d.port}/data`], env());
      expect(plain.code).toBe(2);
      expect(plain.stderr).toContain("or the daemon speaks TLS (then write blits://)");
      // and a TLS client of a plaintext daemon is told so
      plainD = await startBlitd(dir, moduleToml({ data: { path: mod } }));
      const mismatch = await blit(["ls", `blits://127.0.0.1:${plainD.port}/data`, "--tls-accept-new"], env());
      expect(mismatch.code).toBe(2);
      expect(mismatch.stderr).toContain("the daemon does not speak TLS: write blit:// for a daemon without tls_cert_file");
    } finally {
      await plainD?.stop();
      cleanup(home);
    }
  });

  test("blitd speaks TLS 1.3 only: a TLS 1.2 client is refused", () => {
    const tls12 = Bun.spawnSync([OPENSSL!, "s_client", "-tls1_2", "-connect", `127.0.0.1:${d.port}`], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 10_000 });
    expect(tls12.exitCode).not.toBe(0);
    expect(tls12.stderr.toString()).toContain("alert protocol version");
    const tls13 = Bun.spawnSync([OPENSSL!, "s_client", "-tls1_3", "-connect", `127.0.0.1:${d.port}`], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: 10_000 });
    expect(tls13.stdout.toString()).toContain("TLSv1.3");
  });
});

describe.skipIf(!OPENSSL)("TLS in the telemetry", () => {
  test("the client's and the daemon's run records say tls", async () => {
    const dir = tempDir("tls-tel-");
    let daemon: Daemon | undefined;
    try {
      const pki = makePki(join(dir, "pki"));
      const mod = join(dir, "m");
      const src = join(dir, "src");
      mkdirSync(mod);
      mkdirSync(src);
      writeFileSync(join(src, "f.txt"), "hello\n");
      const daemonStore = join(dir, "daemon-store");
      daemon = await startBlitd(dir, tlsToml(pki.good.cert, pki.good.key, `telemetry_dir = ${JSON.stringify(daemonStore)}\n`) + moduleToml({ m: { path: mod, readOnly: false } }), [], { BLIT_TELEMETRY: "on" });
      const env = { BLIT_TELEMETRY: "on", BLIT_HOME: join(dir, "client-home") };
      expect((await blit(["push", src, `blits://127.0.0.1:${daemon.port}/m`, "--tls-ca", pki.ca], env)).code).toBe(0);
      const clientStore = join(dir, "client-home", "telemetry.duckdb");
      const [run] = await listRuns({ path: clientStore });
      expect((await getRun(run!.id, { path: clientStore }))!.transport).toMatchObject({ kind: "tcp", tls: true });
      await daemon.stop(); // the daemon's records are written before it exits
      const daemonStorePath = join(daemonStore, "telemetry.duckdb");
      const [drun] = await listRuns({ path: daemonStorePath });
      expect((await getRun(drun!.id, { path: daemonStorePath }))!.transport).toMatchObject({ kind: "tcp", tls: true });
    } finally {
      await daemon?.stop();
      cleanup(dir);
    }
  });
});

describe.skipIf(!OPENSSL)("TLS: blitd off loopback", () => {
  test("the config refuses a non-loopback bind without TLS unless allow_plaintext = true, naming the keys", () => {
    const dir = tempDir("tls-cfg-");
    try {
      const pki = makePki(join(dir, "pki"));
      writeFileSync(join(dir, "token"), "a-token-of-at-least-16-chars");
      const base = { bind: "0.0.0.0:9031", auth_token_file: join(dir, "token") };
      expect(() => normalizeConfig(base, dir)).toThrow(/without TLS .*'tls_cert_file' and 'tls_key_file'.*'allow_plaintext = true'/);
      expect(normalizeConfig({ ...base, allow_plaintext: true }, dir).allowPlaintext).toBe(true);
      const withTls = normalizeConfig({ ...base, tls_cert_file: pki.good.cert, tls_key_file: pki.good.key }, dir);
      expect(withTls.tls?.fingerprint).toMatch(/^SHA256:/);
      // loopback without TLS stays as it was
      expect(normalizeConfig({ bind: "127.0.0.1:9031" }, dir).tls).toBeUndefined();
      // half a pair, a key of another certificate, an unreadable file: refused in words
      expect(() => normalizeConfig({ ...base, tls_cert_file: pki.good.cert }, dir)).toThrow(/'tls_key_file' is missing/);
      expect(() => normalizeConfig({ ...base, tls_cert_file: pki.elsewhere.cert, tls_key_file: pki.good.key }, dir)).toThrow(/is not the key of the certificate/);
      expect(() => normalizeConfig({ ...base, tls_cert_file: join(dir, "nope.crt"), tls_key_file: pki.good.key }, dir)).toThrow(/cannot read tls_cert_file .*ENOENT/);
    } finally {
      cleanup(dir);
    }
  });

  const addr = Object.values(networkInterfaces()).flat().find((a) => a && a.family === "IPv4" && !a.internal)?.address;
  if (!addr) console.warn("tls.test.ts: blitd start off loopback skipped: this machine has no non-loopback IPv4 address (the config check above covers it)");
  test.skipIf(!addr)(`blitd bound to ${addr} without TLS does not start; with TLS it does`, async () => {
    const dir = tempDir("tls-bind-");
    try {
      const pki = makePki(join(dir, "pki"));
      writeFileSync(join(dir, "token"), "a-token-of-at-least-16-chars");
      const cfg = join(dir, "blitd.toml");
      writeFileSync(cfg, `auth_token_file = ${JSON.stringify(join(dir, "token"))}\n`);
      const p = Bun.spawn([process.execPath, join(REPO, "daemon/main.ts"), "--config", cfg, "--bind", `${addr}:0`], { stdout: "pipe", stderr: "pipe", env: { ...process.env, BLIT_TELEMETRY: "off" } });
      const [code, err] = await Promise.all([p.exited, new Response(p.stderr).text()]);
      expect(code).toBe(2);
      expect(err).toContain(`binding ${addr}:0 (not loopback) without TLS`);
      expect(err).toContain("tls_cert_file");
      const module = `[modules.m]\npath = ${JSON.stringify(dir)}\n`; // blitd refuses a config with no modules
      const d = await startBlitd(dir, tlsToml(pki.good.cert, pki.good.key, `auth_token_file = ${JSON.stringify(join(dir, "token"))}\n${module}`), ["--bind", `${addr}:0`]);
      await d.stop();
    } finally {
      cleanup(dir);
    }
  });
});

describe.skipIf(!OPENSSL)("TLS on the wire", () => {
  const TOKEN = "tok-{|}~^-" + "Z".repeat(24); // HPACK sends these raw: its Huffman codes are longer
  const MARKER = "blit-tls-wire-marker:0123456789abcdef;";

  /** Captures loopback TCP while `fn` runs; the capture's bytes, or undefined when tcpdump cannot capture. */
  async function capture(dir: string, name: string, fn: () => Promise<void>): Promise<Buffer | undefined> {
    const file = join(dir, `${name}.pcap`);
    const p = Bun.spawn([TCPDUMP!, "-i", "lo", "-U", "-s", "0", "-n", "-w", file, "tcp"], { stdout: "ignore", stderr: "pipe" });
    let err = "";
    void (async () => {
      for await (const c of p.stderr as ReadableStream<Uint8Array>) err += new TextDecoder().decode(c);
    })();
    await waitFor(() => /listening on/.test(err) || p.exitCode !== null, 5000);
    if (!/listening on/.test(err)) {
      p.kill();
      await p.exited;
      console.warn(`tls.test.ts: wire test skipped: tcpdump cannot capture on lo: ${err.trim()}`);
      return undefined;
    }
    try {
      await fn();
      await Bun.sleep(300); // the last packets reach the file
    } finally {
      p.kill("SIGINT");
      await p.exited;
    }
    return readFileSync(file);
  }

  if (!TCPDUMP) console.warn("tls.test.ts: wire test skipped: tcpdump is not installed (apt-get install tcpdump)");
  test.skipIf(!TCPDUMP)("the auth token and file contents are never in clear with TLS (and are, without)", async () => {
    const dir = tempDir("tls-wire-");
    let plain: Daemon | undefined;
    let secure: Daemon | undefined;
    try {
      const pki = makePki(join(dir, "pki"));
      const src = join(dir, "src");
      mkdirSync(src);
      writeFileSync(join(src, "small.txt"), MARKER.repeat(4));
      writeFileSync(join(src, "large.bin"), MARKER.repeat(20_000));
      const mod = join(dir, "mod");
      mkdirSync(mod);
      writeFileSync(join(dir, "token"), TOKEN);
      const auth = `auth_token_file = ${JSON.stringify(join(dir, "token"))}\n`;
      const mods = moduleToml({ data: { path: mod, readOnly: false } });
      plain = await startBlitd(dir, auth + mods);
      secure = await startBlitd(dir, tlsToml(pki.good.cert, pki.good.key, auth) + mods);
      const home = join(dir, "home");
      const env = { BLIT_HOME: home, BLIT_AUTH_TOKEN: TOKEN };

      const control = await capture(dir, "plain", async () => {
        const r = await blit(["push", src, `blit://127.0.0.1:${plain!.port}/data/plain`], env);
        expect(r.code).toBe(0);
      });
      if (!control) return;
      expect(control.includes(TOKEN)).toBe(true);
      expect(control.includes(MARKER)).toBe(true);

      const wire = await capture(dir, "tls", async () => {
        for (const force of [[], ["--force-grpc"]]) {
          const r = await blit(["push", src, `blits://127.0.0.1:${secure!.port}/data/tls${force.length}`, "--tls-accept-new", ...force], env);
          expect(r.stderr).toBe("");
          expect(r.code).toBe(0);
        }
      });
      expect(wire!.length).toBeGreaterThan(MARKER.length * 20_000); // the data did cross the capture
      expect(wire!.includes(TOKEN)).toBe(false);
      expect(wire!.includes(MARKER)).toBe(false);
      expect((await diffR(src, join(mod, "tls0"))).same).toBe(true);
      expect((await diffR(src, join(mod, "tls1"))).same).toBe(true);
    } finally {
      await plain?.stop();
      await secure?.stop();
      cleanup(dir);
    }
  });
});

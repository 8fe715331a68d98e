// An sshd of our own for the rsync-over-ssh baseline: Debian's openssh-server run as a process on
// a random loopback port, with a temporary host key and a temporary authorized key, default
// ciphers (nothing chosen for speed). Nothing of the system's ssh setup is read or changed, but
// the privilege-separation directory /run/sshd sshd insists on (created when missing).
import type { Subprocess } from "bun";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface SshServer {
  port: number;
  /** rsync's -e value: ssh with our key, no host key prompt, no agent, no config. */
  rshell: string;
  /** user@127.0.0.1 */
  login: string;
  proc: Subprocess;
}

/** Why sshd cannot be used here, or undefined. */
export function sshMissing(): string | undefined {
  for (const tool of ["/usr/sbin/sshd", "ssh", "ssh-keygen"]) if (!Bun.which(tool)) return `${tool} is not installed (apt-get install openssh-server openssh-client)`;
  if (process.getuid?.() !== 0 && !existsSync("/run/sshd")) return "sshd needs /run/sshd, which only root can create";
  return undefined;
}

function keygen(file: string): void {
  const r = Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", file], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`ssh-keygen: ${r.stderr.toString()}`);
}

/** Starts sshd in `dir` (made here); resolves once it accepts a login. */
export async function startSshd(dir: string): Promise<SshServer> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { mode: 0o755 });
  keygen(join(dir, "host_key"));
  keygen(join(dir, "client_key"));
  writeFileSync(join(dir, "authorized_keys"), await Bun.file(join(dir, "client_key.pub")).text(), { mode: 0o600 });
  const port = 20000 + Math.floor(Math.random() * 20000);
  // os.userInfo() under Bun says "unknown" when $USER is unset; id(1) reads the passwd entry
  const user = Bun.spawnSync(["id", "-un"], { stdout: "pipe" }).stdout.toString().trim();
  writeFileSync(join(dir, "sshd_config"), [
    `Port ${port}`, "ListenAddress 127.0.0.1", `HostKey ${join(dir, "host_key")}`, `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
    `PidFile ${join(dir, "sshd.pid")}`, "PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
    "UsePAM no", "StrictModes no", `AllowUsers ${user}`, "",
  ].join("\n"));
  const proc = Bun.spawn(["/usr/sbin/sshd", "-D", "-e", "-f", join(dir, "sshd_config")], { stdout: "ignore", stderr: "pipe" });
  const rshell = `ssh -p ${port} -i ${join(dir, "client_key")} -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
  const login = `${user}@127.0.0.1`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const probe = Bun.spawnSync([...rshell.split(" "), login, "true"], { stdout: "pipe", stderr: "pipe" });
    if (probe.exitCode === 0) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill();
      throw new Error(`sshd did not accept a login on port ${port}: ${probe.stderr.toString().trim()}`);
    }
    await Bun.sleep(100);
  }
  return { port, rshell, login, proc };
}

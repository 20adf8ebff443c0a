// A fleet of real OpenSSH daemons on 127.0.0.x for integration tests: throwaway host and user keys,
// a known_hosts, one sshd per address on a free port. Nothing here touches ~/.ssh or the system sshd.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, killOnExit } from "./processes.js";

export interface FleetHost {
  readonly address: string;
  readonly port: number;
  readonly hostKeyPath: string;
  /** "ssh-ed25519 AAAA..." */
  readonly hostPubKey: string;
}

export interface Fleet {
  readonly hosts: readonly FleetHost[];
  readonly identityFile: string;
  readonly knownHosts: string;
  readonly user: string;
  readonly dir: string;
  /** Stop one sshd (SIGTERM, and its sessions) and wait for it to exit. */
  stop(i: number): Promise<void>;
  /** Start it again with the same key and port. */
  start(i: number): Promise<void>;
  /** Freeze the sshd and every session process below it (SIGSTOP), as a hung machine would. */
  pause(i: number): void;
  resume(i: number): void;
  /** A copy of known_hosts with hashed host names (`ssh-keygen -H`); returns its path. */
  writeHashedKnownHosts(): string;
  /** YAML `defaults:` + `hosts:` blocks naming the daemons node-1..node-N. */
  manifestHosts(opts?: { hostKeyChecking?: "strict" | "accept-new"; roles?: (i: number) => string[] }): string;
  /** Daemon i's log so far (sshd -e: everything it logs). */
  log(i: number): string;
  /** Kill everything; the temp dir is removed unless `keep` (then its path is printed, logs are in it). */
  close(opts?: { keep?: boolean }): Promise<void>;
}

export interface FleetOptions {
  readonly addresses: readonly string[];
  /** Environment set for every session by sshd (`SetEnv`), merged over the defaults. */
  readonly setEnv?: Readonly<Record<string, string>>;
  /** More sshd_config lines for daemon i (after the defaults; a `Match` block must come last). */
  readonly extraConfig?: (i: number) => readonly string[];
}

const SSHD = "/usr/sbin/sshd";
const live = new Set<ChildProcess>();
const killLive = () => {
  for (const p of live) killTree(p.pid, "SIGKILL");
};

/** pid and all its descendants, found through /proc (sshd's session children leave its process group). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "latin1");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // the process went away while we looked
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

function signalTree(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  for (const p of descendants(pid)) {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  }
}

/** Running (a zombie, or no /proc entry, is not). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

function killTree(pid: number | undefined, sig: NodeJS.Signals): void {
  signalTree(pid, "SIGCONT");
  signalTree(pid, sig);
}

async function waitForTcp(address: string, port: number, child: ChildProcess, log: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sshd on ${address}:${port} exited: ${readFileSync(log, "utf8").trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: address, port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`sshd on ${address}:${port} did not accept connections within 10 s (log: ${log})`);
}

function keygen(path: string, comment: string): string {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]);
  return readFileSync(`${path}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
}

export async function startSshdFleet(opts: FleetOptions): Promise<Fleet> {
  killOnExit(killLive);
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const dir = mkdtempSync(join(tmpdir(), "tsync-sshd-"));
  const identityFile = join(dir, "id_ed25519");
  const userPub = keygen(identityFile, "tsync-test-user");
  writeFileSync(join(dir, "authorized_keys"), userPub + "\n", { mode: 0o600 });
  // Root's real ~/.bashrc costs ~1 s per exec and prints noise: bash skips it for sshd commands when
  // SHLVL is already set (it only sources it for shell level < 2 with SSH_CLIENT set).
  const env = { SHLVL: "1", ...opts.setEnv };
  const setEnvLine = "SetEnv " + Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ");

  const hosts: FleetHost[] = [];
  const configs: string[] = [];
  const logs: string[] = [];
  for (const [i, address] of opts.addresses.entries()) {
    const hostKeyPath = join(dir, `host_${i}`);
    const hostPubKey = keygen(hostKeyPath, `tsync-test-host-${i}`);
    const port = await freePort(address);
    const config = join(dir, `sshd_${i}.conf`);
    writeFileSync(
      config,
      [
        `ListenAddress ${address}:${port}`,
        `HostKey ${hostKeyPath}`,
        `PidFile ${join(dir, `sshd_${i}.pid`)}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "UsePAM no",
        "UseDNS no",
        "PrintMotd no",
        "MaxStartups 50:30:100",
        "Subsystem sftp internal-sftp",
        setEnvLine,
        ...(opts.extraConfig?.(i) ?? []),
        "",
      ].join("\n"),
    );
    hosts.push({ address, port, hostKeyPath, hostPubKey });
    configs.push(config);
    logs.push(join(dir, `sshd_${i}.log`));
  }
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, hosts.map((h) => `[${h.address}]:${h.port} ${h.hostPubKey}\n`).join(""), { mode: 0o600 });

  const procs: (ChildProcess | undefined)[] = [];
  const start = async (i: number): Promise<void> => {
    if (procs[i] !== undefined) return;
    const fd = openSync(logs[i]!, "a");
    // Own process group: a Ctrl-C in the terminal reaches us, and our exit handler kills it.
    const child = spawn(SSHD, ["-D", "-e", "-f", configs[i]!], { stdio: ["ignore", fd, fd], detached: true });
    closeSync(fd);
    child.unref();
    live.add(child);
    procs[i] = child;
    child.once("exit", () => live.delete(child));
    await waitForTcp(hosts[i]!.address, hosts[i]!.port, child, logs[i]!);
  };
  const stop = async (i: number): Promise<void> => {
    const child = procs[i];
    if (child === undefined) return;
    procs[i] = undefined;
    // Unref'd while running so a fleet never holds the test process open; waited for, it must be ref'd
    // or an otherwise idle event loop ends with the wait unsettled.
    child.ref();
    const exited = child.exitCode !== null ? Promise.resolve() : new Promise<void>((r) => child.once("exit", () => r()));
    const sessions = descendants(child.pid!).slice(1);
    signalTree(child.pid, "SIGCONT");
    child.kill("SIGTERM");
    for (const p of sessions) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone
      }
    }
    await exited;
    // A session killed a moment ago can still answer one more request: wait until each is really gone,
    // so "stopped" means no process of this sshd serves anything.
    for (let waited = 0; sessions.some(alive) && waited < 2000; waited += 10) await sleep(10);
  };

  try {
    await Promise.all(hosts.map((_, i) => start(i)));
  } catch (err) {
    await Promise.all(hosts.map((_, i) => stop(i)));
    throw err;
  }

  return {
    hosts,
    identityFile,
    knownHosts,
    user: "root",
    dir,
    start,
    stop,
    log: (i) => readFileSync(logs[i]!, "utf8"),
    pause: (i) => signalTree(procs[i]?.pid, "SIGSTOP"),
    resume: (i) => signalTree(procs[i]?.pid, "SIGCONT"),
    writeHashedKnownHosts() {
      const hashed = join(dir, "known_hosts.hashed");
      copyFileSync(knownHosts, hashed);
      execFileSync("ssh-keygen", ["-q", "-H", "-f", hashed], { stdio: "ignore" });
      rmSync(`${hashed}.old`, { force: true });
      return hashed;
    },
    manifestHosts(mopts = {}) {
      const lines = [
        "defaults:",
        "  user: root",
        `  identityFile: ${identityFile}`,
        `  knownHosts: ${knownHosts}`,
        `  hostKeyChecking: ${mopts.hostKeyChecking ?? "strict"}`,
        "hosts:",
      ];
      for (const [i, h] of hosts.entries()) {
        const roles = mopts.roles?.(i) ?? [i === 0 ? "master" : "replica"];
        lines.push(`  node-${i + 1}: { address: ${h.address}, port: ${h.port}, roles: [${roles.join(", ")}] }`);
      }
      return lines.join("\n") + "\n";
    },
    async close(copts = {}) {
      await Promise.all(hosts.map((_, i) => stop(i)));
      if (copts.keep) process.stderr.write(`sshd fleet kept for inspection: ${dir} (logs: sshd_*.log)\n`);
      else rmSync(dir, { recursive: true, force: true });
    },
  };
}

// The bench's loopback world: 4 real sshd on 127.0.0.2–5 (the test harness), an OpenSSH client config
// for the anchors (rsync, lsyncd, ssh b2sum) that trusts exactly the fleet's keys, and a temp dir for
// sources and targets. All sshd serve this machine's filesystem, so every target gets its own path.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startSshdFleet, type Fleet } from "../test/support/sshd.js";

export const ADDRS = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"] as const;

export interface World {
  readonly fleet: Fleet;
  readonly dir: string;
  /** `ssh -F` file naming node-1..4 with their ports, the fleet key and known_hosts. */
  readonly sshConfig: string;
  /** `-e` value for rsync and `rsh` for lsyncd. */
  readonly rsh: string;
  readonly hostNames: readonly string[];
  close(keep: boolean): Promise<void>;
}

/**
 * lsyncd is the anchor for live sync and GNU time measures one-shot peak RSS; install Debian's when
 * missing. `huge`: a 1M-file tree has 100k directories, and both watchers need one inotify watch each.
 */
export function ensureTools(huge = false): void {
  const missing = [["/usr/bin/lsyncd", "lsyncd"], ["/usr/bin/time", "time"]].filter(([f]) => !existsSync(f!)).map(([, pkg]) => pkg!);
  if (missing.length > 0) execFileSync("apt-get", ["install", "-y", "-q", ...missing], { stdio: "inherit" });
  for (const t of ["rsync", "ssh", "b2sum", "find"]) execFileSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" });
  const watches = "/proc/sys/fs/inotify/max_user_watches";
  if (huge && Number(readFileSync(watches, "utf8")) < 2_000_000) {
    writeFileSync(watches, "2000000\n");
    process.stderr.write(`bench: raised fs.inotify.max_user_watches to 2000000 for the 1M-file tree\n`);
  }
}

export async function startWorld(): Promise<World> {
  const fleet = await startSshdFleet({ addresses: ADDRS });
  const dir = mkdtempSync(join(tmpdir(), "tsync-bench-"));
  const hostNames = fleet.hosts.map((_, i) => `node-${i + 1}`);
  const sshConfig = join(dir, "ssh_config");
  writeFileSync(
    sshConfig,
    fleet.hosts
      .map((h, i) =>
        [
          `Host ${hostNames[i]}`,
          `  HostName ${h.address}`,
          `  Port ${h.port}`,
          "  User root",
          `  IdentityFile ${fleet.identityFile}`,
          "  IdentitiesOnly yes",
          `  UserKnownHostsFile ${fleet.knownHosts}`,
          "  StrictHostKeyChecking yes",
          "  BatchMode yes",
          "",
        ].join("\n"),
      )
      .join("\n"),
  );
  return {
    fleet,
    dir,
    sshConfig,
    rsh: `/usr/bin/ssh -F ${sshConfig}`,
    hostNames,
    async close(keep) {
      await fleet.close({ keep });
      if (!keep) rmSync(dir, { recursive: true, force: true });
      else process.stderr.write(`bench dir kept: ${dir}\n`);
    },
  };
}

/** Where tool `who` keeps data set `set` on target i (an absolute path on the shared filesystem). */
export function targetPath(w: World, set: string, who: string, i: number): string {
  return join(w.dir, "t", set, who, `node-${i + 1}`);
}

export function targetPaths(w: World, set: string, who: string): string[] {
  const ps = w.hostNames.map((_, i) => targetPath(w, set, who, i));
  mkdirSync(join(w.dir, "t", set, who), { recursive: true });
  return ps;
}

export interface ManifestOptions {
  readonly name: string;
  readonly source: string;
  /** Paths on node-1..n in order, or (`locations`) target entries as written: a local path, `node-1:/path`. */
  readonly targets: readonly string[];
  readonly locations?: boolean;
  /** Extra sync keys, one YAML line each (indented by the writer). */
  readonly extra?: readonly string[];
}

/** A tsync.yaml with the seed's settings (maxProcesses 5, delay 1s) syncing `source` to node-i:targets[i]. */
export function writeManifest(w: World, o: ManifestOptions): string {
  const file = join(w.dir, `${o.name}.yaml`);
  writeFileSync(
    file,
    [
      "version: 1",
      w.fleet.manifestHosts(),
      "settings:",
      "  maxProcesses: 5",
      `  statusFile: ${join(w.dir, `${o.name}.status`)}`,
      // Inside the world, so it goes with it (the first deep plan of a run is the cold one).
      `  hashCache: ${join(w.dir, "hash-cache")}`,
      "syncs:",
      "  site:",
      `    source: ${o.source}`,
      "    targets:",
      ...o.targets.map((t, i) => `      - ${o.locations ? t : `${w.hostNames[i]}:${t}`}`),
      "    delay: 1s",
      ...(o.extra ?? []).map((l) => "    " + l),
      "",
    ].join("\n"),
  );
  return file;
}

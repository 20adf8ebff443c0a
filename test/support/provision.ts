// Runs before the test files (see package.json `test`): the integration tests need real sshd, nginx
// and rsync, and must never skip silently when they are missing. As root we install them; otherwise we
// stop with the exact command to run. Fast when everything is present: a few stat calls.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { delimiter, join } from "node:path";
import { pathToFileURL } from "node:url";

/** A tool the test suite needs, and the Debian package that provides it. */
interface Tool {
  readonly name: string;
  /** Absolute path, or a bare name looked up on PATH. */
  readonly path: string;
  readonly pkg: string;
}

export const TOOLS: readonly Tool[] = [
  { name: "sshd", path: "/usr/sbin/sshd", pkg: "openssh-server" },
  { name: "ssh-keygen", path: "ssh-keygen", pkg: "openssh-client" },
  { name: "ssh-agent", path: "ssh-agent", pkg: "openssh-client" },
  { name: "ip", path: "ip", pkg: "iproute2" },
  { name: "sudo", path: "sudo", pkg: "sudo" },
  { name: "nginx", path: "nginx", pkg: "nginx" },
  { name: "rsync", path: "rsync", pkg: "rsync" },
  { name: "perl", path: "perl", pkg: "perl" },
  { name: "b2sum", path: "b2sum", pkg: "coreutils" },
  { name: "sha256sum", path: "sha256sum", pkg: "coreutils" },
  { name: "find", path: "find", pkg: "findutils" },
  // deploy/tsync-watch.service: its hardening score, and readiness through systemd-notify (with a
  // fake NOTIFY_SOCKET served by python3: Node has no unix datagram sockets).
  { name: "systemd-analyze", path: "systemd-analyze", pkg: "systemd" },
  { name: "systemd-notify", path: "systemd-notify", pkg: "systemd" },
  { name: "python3", path: "python3", pkg: "python3-minimal" },
  // `tsync completion bash|zsh|fish`: each script is loaded and asked for completions in its shell.
  { name: "zsh", path: "zsh", pkg: "zsh" },
  { name: "fish", path: "fish", pkg: "fish" },
];

const SBIN = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

function onPath(name: string): boolean {
  if (name.startsWith("/")) return existsSync(name);
  const dirs = (process.env.PATH ?? "").split(delimiter).concat(SBIN);
  return dirs.some((d) => d !== "" && existsSync(join(d, name)));
}

export function missingTools(tools: readonly Tool[] = TOOLS): Tool[] {
  return tools.filter((t) => !onPath(t.path));
}

function run(cmd: string, args: string[]): void {
  console.log(`provision: ${cmd} ${args.join(" ")}`);
  execFileSync(cmd, args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
}

/** Returns an exit code; prints one line per problem. */
export function provision(): number {
  let missing = missingTools();
  if (missing.length > 0) {
    const pkgs = [...new Set(["openssh-server", "nginx", "rsync", ...missing.map((t) => t.pkg)])];
    const names = missing.map((t) => t.name).join(", ");
    const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
    if (!isRoot) {
      console.error(`provision: missing ${names}; the integration tests need them. Install with:`);
      console.error(`  sudo apt-get install -y ${pkgs.join(" ")}`);
      return 1;
    }
    console.log(`provision: missing ${names}; installing ${pkgs.join(" ")}`);
    try {
      run("apt-get", ["update"]);
      run("apt-get", ["install", "-y", ...pkgs]);
    } catch (e) {
      console.error(`provision: apt-get failed (${(e as Error).message.split("\n")[0]}); install ${pkgs.join(" ")} by hand`);
      return 1;
    }
    missing = missingTools();
    if (missing.length > 0) {
      console.error(`provision: still missing after install: ${missing.map((t) => t.name).join(", ")}`);
      return 1;
    }
  }
  // sshd refuses to start without its privilege-separation directory; Debian creates it only at boot.
  try {
    mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  } catch (e) {
    console.error(`provision: cannot create /run/sshd (${(e as NodeJS.ErrnoException).code}); sshd will not start`);
    return 1;
  }
  return 0;
}

// Only act when run as a script, so tests can import missingTools without side effects.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = provision();
}

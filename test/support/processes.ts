// What every test server helper needs: a free port on a loopback address, and a guarantee that the
// servers it started die with the test process (normal exit, Ctrl-C, SIGTERM from a runner).
import net from "node:net";

const kills = new Set<() => void>();

/** Runs `kill` when the test process exits or is interrupted, so no server outlives it. */
export function killOnExit(kill: () => void): void {
  if (kills.has(kill)) return;
  const first = kills.size === 0;
  kills.add(kill);
  if (!first) return;
  const all = () => {
    for (const k of kills) k();
  };
  process.on("exit", all);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      all();
      process.exit(sig === "SIGINT" ? 130 : 143);
    });
  }
}

/** A TCP port that was free a moment ago on `host`. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

// Where nginx sends a host's traffic is `web`, else `address` — but only when that address is an IP
// or a name that resolves: an ssh config alias, or a name only a bastion knows, is how SSH reaches
// the host, not a server nginx can send requests to. Resolved on the machine running tsync (the
// system resolver: /etc/hosts, then DNS), the one place tsync can ask.
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { Manifest } from "../model/manifest.js";
import { errorMessage } from "../model/errors.js";

/** Names that resolved once: watch plans nginx after every batch, and a name that resolved stays usable. */
const resolved = new Set<string>();

/** One message per upstream host whose address nginx could not use, in manifest order. */
export async function unusableWebAddresses(manifest: Manifest): Promise<string[]> {
  const used = new Set(manifest.nginx?.upstreams.flatMap((u) => u.hosts) ?? []);
  const hosts = [...manifest.hosts.values()].filter((h) => used.has(h.name) && h.web === undefined && isIP(h.address) === 0 && !resolved.has(h.address));
  const verdicts = await Promise.all(
    hosts.map((h) =>
      lookup(h.address).then(
        () => void resolved.add(h.address),
        (err: unknown) =>
          `hosts.${h.name}.address: ${h.address} is not an IP address and does not resolve here (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}), so nginx cannot send traffic to it (an ssh config alias?): set hosts.${h.name}.web to the address nginx should use`,
      ),
    ),
  );
  return verdicts.filter((v): v is string => v !== undefined);
}

// A manifest draft → tsync.yaml text, with the schema hint editors read and a comment wherever the
// importer made a choice. Built with yaml's Document API so comments sit on the keys they explain.

import { Document, isMap, isScalar, isCollection, type Node, type Pair, type YAMLMap } from "yaml";
import type { ManifestDraft } from "./lsyncd-map.js";
import type { Conn } from "./lsyncd-options.js";

export const SCHEMA_URL = "https://github.com/tsync/tsync/schemas/manifest.schema.json";
const CONN_KEYS = ["user", "port", "identityFile", "knownHosts", "hostKeyChecking", "sudo"] as const;

export function renderManifest(d: ManifestDraft, file: string): string {
  // A connection setting every host shares goes to `defaults` once.
  const defaults: Conn = {};
  for (const k of CONN_KEYS) {
    const vals = d.hosts.map((h) => h.conn[k]);
    if (d.hosts.length > 0 && vals.every((v) => v !== undefined && v === vals[0])) (defaults as Record<string, unknown>)[k] = vals[0];
  }
  const hosts: Record<string, unknown> = {};
  for (const h of d.hosts) {
    const own = Object.fromEntries(CONN_KEYS.filter((k) => h.conn[k] !== undefined && defaults[k] === undefined).map((k) => [k, h.conn[k]]));
    hosts[h.name] = { address: h.address, roles: ["replica"], ...own };
  }
  const syncs: Record<string, unknown> = {};
  for (const s of d.syncs) {
    syncs[s.name] = {
      source: s.source, targets: s.targets, exclude: s.exclude, delete: s.delete, preserve: s.preserve,
      ...(s.chown !== undefined ? { chown: s.chown } : {}), ...(s.protect.length > 0 ? { protect: s.protect } : {}), delay: s.delay,
    };
  }
  const doc = new Document({
    version: 1,
    ...(Object.keys(defaults).length ? { defaults } : {}),
    ...(Object.keys(d.settings).length ? { settings: d.settings } : {}),
    hosts,
    syncs,
  });
  doc.commentBefore = ` yaml-language-server: $schema=${SCHEMA_URL}\n Imported from ${file} by \`tsync import lsyncd\`; comments starting "lsyncd" explain a translation.`;

  for (const name of Object.keys(hosts)) setFlow(doc.getIn(["hosts", name], true));
  for (const s of d.syncs) {
    setFlow(doc.getIn(["syncs", s.name, "preserve"], true));
    if (s.exclude.length === 0) setFlow(doc.getIn(["syncs", s.name, "exclude"], true));
    const map = doc.getIn(["syncs", s.name], true);
    if (isMap(map)) for (const [key, lines] of Object.entries(s.comments)) attach(map, key, lines);
  }
  const settings = doc.get("settings", true);
  if (isMap(settings)) for (const [key, lines] of Object.entries(d.settingsComments)) attach(settings, key, lines);
  return doc.toString({ flowCollectionPadding: false, lineWidth: 0 });
}

function setFlow(node: unknown): void {
  if (isCollection(node)) node.flow = true;
}

/** One short comment goes after a scalar or flow value; anything else goes on the lines above the key. */
function attach(map: YAMLMap, key: string, lines: readonly string[]): void {
  if (lines.length === 0) return;
  if (key === "") {
    map.commentBefore = lines.map((l) => ` ${l}`).join("\n");
    return;
  }
  const pair = map.items.find((p: Pair) => isScalar(p.key) && p.key.value === key);
  if (!pair) return;
  const value = pair.value as Node | null;
  const inline = lines.length === 1 && value !== null && (isScalar(value) || (isCollection(value) && value.flow === true));
  if (inline) value.comment = ` ${lines[0]}`;
  else if (isScalar(pair.key)) pair.key.commentBefore = lines.map((l) => ` ${l}`).join("\n");
}

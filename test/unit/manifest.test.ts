import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatDiagnostic } from "../../reconciler/model/diagnostics.js";
import { loadManifest, parseManifest } from "../../reconciler/manifest/load.js";
import { DEFAULTS } from "../../reconciler/manifest/normalize.js";
import { firstOverlaps, type Place } from "../../reconciler/manifest/overlaps.js";
import { RULES } from "../../reconciler/manifest/rules.js";
import { parseDuration, parseLimit } from "../../reconciler/manifest/units.js";
import { manifestSchema } from "../../reconciler/manifest/validate.js";

// Fixture paths appear in the expected lines as written ("fixtures/invalid/x.yaml"): run from the repo root.
process.chdir(fileURLToPath(new URL("../../../", import.meta.url)));

const INVALID = "fixtures/invalid";
const corpus = readdirSync(INVALID).filter((f) => f.endsWith(".yaml")).map((f) => f.slice(0, -5)).sort();

test("the invalid corpus is large and every case has its expectation", () => {
  assert.ok(corpus.length >= 30, `only ${corpus.length} cases`);
  for (const name of corpus) assert.ok(existsSync(`${INVALID}/${name}.expected`), `${name}.expected missing`);
  for (const f of readdirSync(INVALID).filter((f) => f.endsWith(".expected")))
    assert.ok(corpus.includes(f.slice(0, -9)), `${f} has no .yaml`);
});

for (const name of corpus) {
  test(`invalid: ${name}`, () => {
    const file = `${INVALID}/${name}.yaml`;
    const { manifest, diagnostics } = loadManifest(file);
    assert.equal(manifest, undefined);
    const want = readFileSync(`${INVALID}/${name}.expected`, "utf8").trimEnd().split("\n");
    assert.deepEqual(diagnostics.map(formatDiagnostic), want);
    for (const d of diagnostics) {
      assert.ok(d.start, `${name}: every error has a line and column`);
      assert.ok(!formatDiagnostic(d).includes("\n"), `${name}: one line each`);
    }
  });
}

test("every rule and every error kind is exercised by the corpus", () => {
  const codes = new Set(corpus.flatMap((n) => loadManifest(`${INVALID}/${n}.yaml`).diagnostics.map((d) => d.code)));
  for (const code of [
    "yaml", "tab", "duplicate-key", "not-text", "empty", "not-mapping", "bad-key", "schema", "unknown-key", "missing-key",
    "relative-path", "host-address", "unknown-host", "unknown-role", "empty-upstream", "source-is-target",
    "overlapping-targets", "root-target", "bad-duration", "bad-limit", "bad-cron", "unknown-upstream", "nginx-injection", "nul-byte",
    "proxy-jump", "bad-port",
  ])
    assert.ok(codes.has(code), `no corpus case yields ${code}`);
  assert.equal(Object.keys(RULES).length, 15);
});

test("a 10 MB file is refused quickly with one line", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsync-manifest-"));
  try {
    const file = join(dir, "huge.yaml");
    writeFileSync(file, "version: 1\n" + `#${"x".repeat(1022)}\n`.repeat(10 * 1024 - 1));
    const t0 = performance.now();
    const { manifest, diagnostics } = loadManifest(file);
    const fromString = parseManifest(readFileSync(file, "utf8"), file);
    assert.ok(performance.now() - t0 < 1000);
    assert.equal(manifest, undefined);
    assert.equal(fromString.manifest, undefined);
    assert.deepEqual(diagnostics.map(formatDiagnostic), [`${file}: the file is 10.0 MiB; a manifest is at most 1 MiB (is this the right file?)`]);
    assert.deepEqual(fromString.diagnostics.map(formatDiagnostic), diagnostics.map(formatDiagnostic));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a missing file is one line, not a throw", () => {
  assert.deepEqual(loadManifest("fixtures/nope/tsync.yaml").diagnostics.map(formatDiagnostic), [
    "fixtures/nope/tsync.yaml: cannot read the manifest: no such file",
  ]);
});

test("relative paths resolve against the manifest's directory, not the working directory (SPEC §6, docs/ci.md)", () => {
  const dir = mkdtempSync(join(tmpdir(), "tsync-relative-"));
  try {
    const file = join(dir, "ops", "tsync.yaml");
    const m = parseManifest(
      `version: 1
defaults: { identityFile: keys/drift, knownHosts: deploy/known_hosts }
settings: { statusFile: state/tsync.status, logFile: ../log/tsync.log }
hosts:
  www-01: { address: 127.0.0.2, roles: [web], knownHosts: "./other_hosts" }
  www-02: { address: 127.0.0.3, identityFile: ~/.ssh/id_ed25519, sshConfig: deploy/ssh_config }
syncs:
  site:
    source: www
    targets: [www-01:/var/www, www-02:/var/www, mirror/www]
  home:
    source: ~/site
    targets: [{ path: ./copies/home }]
nginx:
  path: nginx/site.conf
  upstreams: { backend: { roles: [web] } }
  servers: [{ names: [example.com], locations: { "/": backend } }]
`,
      file,
    );
    assert.deepEqual(m.diagnostics.map(formatDiagnostic), []);
    const ops = join(dir, "ops");
    const h1 = m.manifest!.hosts.get("www-01")!;
    const h2 = m.manifest!.hosts.get("www-02")!;
    assert.deepEqual([h1.identityFile, h1.knownHosts], [join(ops, "keys/drift"), join(ops, "other_hosts")]);
    assert.deepEqual([h2.identityFile, h2.knownHosts], [join(homedir(), ".ssh/id_ed25519"), join(ops, "deploy/known_hosts")]);
    assert.deepEqual(h2.sshConfig, [join(ops, "deploy/ssh_config")]);
    assert.deepEqual(m.manifest!.settings, { maxProcesses: DEFAULTS.maxProcesses, statusFile: join(ops, "state/tsync.status"), logFile: join(dir, "log/tsync.log") });
    const [site, home] = m.manifest!.syncs;
    assert.deepEqual(site!.source, { path: join(ops, "www") });
    assert.deepEqual(site!.targets, [{ host: "www-01", path: "/var/www" }, { host: "www-02", path: "/var/www" }, { path: join(ops, "mirror/www") }]);
    assert.deepEqual([home!.source, home!.targets], [{ path: join(homedir(), "site") }, [{ path: join(ops, "copies/home") }]]);
    assert.equal(m.manifest!.nginx!.path, join(ops, "nginx/site.conf"));
    // The same text read through a relative file name from another directory resolves the same way.
    const cwd = process.cwd();
    try {
      process.chdir(dir);
      assert.equal(parseManifest("version: 1\nsettings: { statusFile: s }\n", "ops/tsync.yaml").manifest!.settings.statusFile, join(ops, "s"));
    } finally {
      process.chdir(cwd);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a target given relative to the manifest is checked against the source as resolved", () => {
  const m = parseManifest("version: 1\nsyncs:\n  s:\n    source: /srv/site/www\n    targets: [www/copy]\n", "/srv/site/tsync.yaml");
  assert.deepEqual(m.diagnostics.map(formatDiagnostic), [
    '/srv/site/tsync.yaml:5:15: syncs.s.targets[0]: target www/copy is inside the source (/srv/site/www): a sync cannot write into what it reads',
  ]);
});

test("parseDuration", () => {
  const cases: [string, number | undefined][] = [
    ["500ms", 500], ["1s", 1000], ["2m", 120_000], ["1h", 3_600_000], ["1.5s", 1500], ["0s", 0], ["0.5ms", 1],
    ["1", undefined], ["1x", undefined], ["s", undefined], ["-1s", undefined], [" 1s", undefined], ["1 s", undefined],
    ["1S", undefined], ["1d", undefined], ["", undefined], ["9999h", undefined], ["596h", 2_145_600_000],
  ];
  for (const [s, want] of cases) assert.equal(parseDuration(s), want, s);
});

test("parseLimit", () => {
  const cases: [string | number, unknown][] = [
    ["25%", { kind: "percent", value: 25 }], ["0%", { kind: "percent", value: 0 }], ["100%", { kind: "percent", value: 100 }],
    ["2.5%", { kind: "percent", value: 2.5 }], ["1000", { kind: "count", value: 1000 }], [1000, { kind: "count", value: 1000 }],
    [0, { kind: "count", value: 0 }], ["101%", undefined], ["-1", undefined], [-1, undefined], [1.5, undefined], ["1.5", undefined],
    ["25 %", undefined], ["%", undefined], ["", undefined], ["99999999999999999999", undefined], [Number.NaN, undefined],
  ];
  for (const [s, want] of cases) assert.deepEqual(parseLimit(s), want, String(s));
});

test("the seed fixture normalizes: roles expanded to 3 targets, defaults merged", () => {
  const bytes = readFileSync("fixtures/seed/tsync.yaml");
  const { manifest, diagnostics } = loadManifest("fixtures/seed/tsync.yaml");
  assert.deepEqual(diagnostics, []);
  assert.ok(manifest);
  assert.equal(manifest.file, "fixtures/seed/tsync.yaml");
  assert.equal(manifest.digest, createHash("sha256").update(bytes).digest("hex"));
  assert.deepEqual(manifest.settings, { maxProcesses: 5, statusFile: "/tmp/tsync.status" });
  assert.deepEqual([...manifest.hosts.keys()], ["master", "www-01", "www-02", "www-03"]);
  assert.deepEqual(manifest.hosts.get("www-02"), {
    // port, user and known_hosts are left to ssh config, then OpenSSH's defaults, at connect time.
    name: "www-02", address: "10.0.1.22", hostKeyChecking: "strict", roles: ["replica"], sshConfig: [join(homedir(), ".ssh/config"), "/etc/ssh/ssh_config"],
  });
  const [site] = manifest.syncs;
  assert.deepEqual(site, {
    name: "site",
    source: { path: "/var/www/tjstein.com" },
    targets: ["www-01", "www-02", "www-03"].map((host) => ({ host, path: "/var/www/tjstein.com" })),
    rules: { exclude: [], delete: true, preserve: { perms: true, times: true, owner: false, group: false } },
    delayMs: 1000,
    audit: { quick: "*/5 * * * *" },
    onDrift: "heal",
  });
  assert.deepEqual(manifest.nginx, {
    host: "master",
    path: "/etc/nginx/conf.d/tjstein.com.conf",
    test: "nginx -t",
    reload: "nginx -s reload",
    upstreams: [
      { name: "backend", roles: ["master", "replica"], hosts: ["master", "www-01", "www-02", "www-03"] },
      { name: "admin", roles: ["master"], hosts: ["master"] },
    ],
    servers: [{ names: ["tjstein.com", "www.tjstein.com"], listen: "80", locations: [{ match: "/", upstream: "backend" }, { match: "~ /wp-admin/", upstream: "admin" }] }],
    drifted: "keep",
  });
  assert.ok(readFileSync("fixtures/seed/tsync.yaml", "utf8").startsWith("# yaml-language-server: $schema=../../schemas/manifest.schema.json\n"));
});

test("valid fixtures load without diagnostics", () => {
  for (const f of readdirSync("fixtures/valid").filter((f) => f.endsWith(".yaml"))) {
    const { manifest, diagnostics } = loadManifest(`fixtures/valid/${f}`);
    assert.deepEqual(diagnostics.map(formatDiagnostic), [], f);
    assert.ok(manifest, f);
  }
});

test("local locations, object targets, trailing slashes, ~ and explicit rules", () => {
  const m = loadManifest("fixtures/valid/local.yaml").manifest!;
  assert.equal(m.hosts.size, 0);
  assert.equal(m.settings.statusFile, join(homedir(), "tsync.status"));
  const [site, uploads] = m.syncs;
  assert.deepEqual(site!.source, { path: "/srv/src/site" });
  assert.deepEqual(site!.targets, [{ path: "/srv/dst/a" }, { path: "/srv/dst/b" }]);
  assert.deepEqual(site!.rules, {
    exclude: [".git/", "wp-content/cache/", "*.swp"], delete: false, maxDelete: { kind: "percent", value: 25 },
    preserve: { perms: true, times: true, owner: true, group: true },
  });
  assert.equal(site!.delayMs, 500);
  assert.deepEqual(site!.audit, { quick: "*/5 * * * *", deep: "0 3 * * *" });
  assert.equal(site!.onDrift, "report");
  assert.deepEqual(uploads!.rules.maxDelete, { kind: "count", value: 1000 });
});

test("per-host overrides beat defaults, which beat built-in defaults", () => {
  const m = loadManifest("fixtures/valid/overrides.yaml").manifest!;
  const key = join(homedir(), ".ssh/id_ed25519");
  assert.deepEqual(m.hosts.get("build"), {
    name: "build", address: "build.internal", port: 2222, user: "deploy", identityFile: key,
    hostKeyChecking: "accept-new", roles: ["builder"], sshConfig: [join(homedir(), ".ssh/config"), "/etc/ssh/ssh_config"],
  });
  assert.deepEqual(m.hosts.get("web-a"), {
    name: "web-a", address: "127.0.0.2", port: 22, user: "www-data", identityFile: key,
    knownHosts: "/etc/ssh/ssh_known_hosts", hostKeyChecking: "strict", roles: ["web"], sshConfig: [join(homedir(), ".ssh/config"), "/etc/ssh/ssh_config"],
  });
  assert.equal(m.hosts.get("web-b")!.address, "::1");
  const [release] = m.syncs;
  assert.deepEqual(release!.source, { host: "build", path: "/srv/release" });
  assert.deepEqual(release!.targets, [{ host: "web-a", path: "/var/www/app" }, { host: "web-b", path: "/var/www/app" }]);
  assert.deepEqual(release!.audit, {});
  assert.equal(m.nginx!.host, undefined);
  assert.equal(m.nginx!.servers[0]!.listen, "443 ssl");
  assert.deepEqual(m.nginx!.servers[0]!.locations.map((l) => l.match), ["/", "= /healthz", "~* \\.(png|jpg)$"]);
  assert.equal(m.nginx!.drifted, "down");
});

test("parseManifest: digest of the UTF-8 bytes, positions from the string, warnings keep the manifest", () => {
  const src = "version: 1\nsettings:\n  logFile: !note /var/log/tsync.log\n";
  const { manifest, diagnostics } = parseManifest(src, "tsync.yaml");
  assert.equal(manifest?.digest, createHash("sha256").update(src).digest("hex"));
  assert.deepEqual(diagnostics.map(formatDiagnostic), ["tsync.yaml:3:12: warning: unresolved tag: !note (ignored)"]);
  assert.deepEqual(parseManifest("version: 1\nsyncs:\n  site:\n    source: /a\n    targets: [/b]\n    delay: 1x\n", "tsync.yaml").diagnostics.map(formatDiagnostic), [
    'tsync.yaml:6:12: syncs.site.delay: must be a duration like "1s"',
  ]);
});

test("one mistake, one line: a wrong type is not also reported as a wrong pattern or branch", () => {
  for (const [src, want] of [
    ["version: 1\nsyncs:\n  s:\n    source: /a\n    targets: 7\n", "t:5:14: syncs.s.targets: must be a list of locations or {roles, path}"],
    ["version: 1\nsyncs:\n  s:\n    source: /a\n    targets: [/b]\n    maxDelete: [1]\n", 't:6:16: syncs.s.maxDelete: must be a count like 1000 or a percentage like "25%"'],
    ["version: 1\nhosts:\n", "t:2:1: hosts: must be a mapping (key: value)"],
    ["version: 1\nsettings: { statusFile: 5 }\n", "t:2:25: settings.statusFile: must be a path"],
  ] as const)
    assert.deepEqual(parseManifest(src, "t").diagnostics.map(formatDiagnostic), [want]);
});

// ---- the schema itself: editors complete from it, so it must describe everything it admits ----
type Json = { [k: string]: unknown };

test("schema: $id, title, 2020-12, and a description on every property", () => {
  const s = manifestSchema as Json;
  assert.equal(s.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.ok(typeof s.$id === "string" && typeof s.title === "string");
  const missing: string[] = [];
  const walk = (node: unknown, at: string) => {
    if (!node || typeof node !== "object") return;
    const n = node as Json;
    if (n.properties) for (const [k, v] of Object.entries(n.properties as Json)) if (!(v as Json).description) missing.push(`${at}/${k}`);
    if (n.type === "object" || (Array.isArray(n.type) && n.type.includes("object")))
      if (n.additionalProperties === undefined) missing.push(`${at}: additionalProperties not set`);
    for (const [k, v] of Object.entries(n)) if (typeof v === "object") walk(v, `${at}/${k}`);
  };
  walk(s, "#");
  assert.deepEqual(missing, []);
});

test("schema defaults are the defaults normalize applies", () => {
  const d = (manifestSchema as Json).$defs as Json;
  const get = (path: string[]) => path.reduce<unknown>((n, k) => (n as Json)[k], manifestSchema);
  const sync = (d.sync as Json).properties as Json;
  const nginx = (d.nginx as Json).properties as Json;
  assert.equal((d.port as Json).default, DEFAULTS.port);
  assert.equal((d.knownHosts as Json).default, DEFAULTS.knownHosts);
  assert.equal((d.hostKeyChecking as Json).default, DEFAULTS.hostKeyChecking);
  assert.equal((get(["properties", "settings", "properties", "maxProcesses"]) as Json).default, DEFAULTS.maxProcesses);
  assert.equal((sync.delete as Json).default, DEFAULTS.delete);
  assert.deepEqual((sync.preserve as Json).default, DEFAULTS.preserve);
  assert.deepEqual((sync.exclude as Json).default, DEFAULTS.exclude);
  assert.deepEqual((sync.protect as Json).default, DEFAULTS.protect);
  assert.equal((sync.delay as Json).default, DEFAULTS.delay);
  assert.equal((sync.onDrift as Json).default, DEFAULTS.onDrift);
  assert.equal(((((sync.onChange as Json).items as Json).properties as Json).timeout as Json).default, DEFAULTS.hookTimeout);
  assert.equal((((sync.audit as Json).properties as Json).quick as Json).default, DEFAULTS.auditQuick);
  assert.equal((nginx.test as Json).default, DEFAULTS.nginxTest);
  assert.equal((nginx.reload as Json).default, DEFAULTS.nginxReload);
  assert.equal((nginx.drifted as Json).default, DEFAULTS.drifted);
  const server = (((nginx.servers as Json).items as Json).properties as Json);
  assert.equal((server.listen as Json).default, DEFAULTS.listen);
});

test("preserve: hardlinks is accepted and normalized; without it names sharing an inode are copies (no flag)", () => {
  const yaml = (preserve: string) => `version: 1\nsyncs:\n  s:\n    source: /srv/a\n    targets: [/srv/b]\n    preserve: ${preserve}\n`;
  const on = parseManifest(yaml("[perms, times, hardlinks]"), "t.yaml");
  assert.deepEqual(on.diagnostics.map(formatDiagnostic), []);
  assert.equal(on.manifest!.syncs[0]!.rules.preserve.hardlinks, true);
  const off = parseManifest(yaml("[perms, times]"), "t.yaml");
  assert.equal(off.manifest!.syncs[0]!.rules.preserve.hardlinks, undefined);
  assert.match(parseManifest(yaml("[hardlink]"), "t.yaml").diagnostics.map(formatDiagnostic).join("\n"), /must be one of perms, times, owner, group, hardlinks/);
});

// The overlap rule as it was first written: each target against every kept one before it (quadratic).
function overlapsByPairs(places: readonly Place[]): (number | undefined)[] {
  const within = (a: string, b: string) => a === b || a.startsWith(b === "/" ? "/" : `${b}/`);
  const kept: number[] = [];
  return places.map((p, i) => {
    const j = kept.find((k) => places[k]!.machine === p.machine && (within(p.path, places[k]!.path) || within(places[k]!.path, p.path)));
    if (j === undefined) kept.push(i);
    return j;
  });
}

test("overlapping targets: the sorted check names the same earlier target as comparing every pair", () => {
  const fixed: Place[] = [
    { machine: "a", path: "/w/site" }, { machine: "a", path: "/w/site/blog" }, { machine: "b", path: "/w/site/blog" },
    { machine: "a", path: "/w" }, { machine: "a", path: "/w/site-2" }, { machine: "a", path: "/w/sit" }, { machine: "a", path: "/w/site" },
    { machine: "b", path: "/w/site/blog/x" }, { machine: "b", path: "/" }, { machine: "c", path: "/x/y" }, { machine: "c", path: "/x/z" }, { machine: "c", path: "/x" },
  ];
  assert.deepEqual(firstOverlaps(fixed), [undefined, 0, undefined, 0, undefined, undefined, 0, 2, 2, undefined, undefined, 9]);
  // Seeded, so a failure reproduces: short paths over a tiny alphabet collide, nest and repeat often.
  let seed = 1;
  const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
  for (let round = 0; round < 300; round++) {
    const places = Array.from({ length: 1 + next(40) }, () => ({
      machine: "mn"[next(2)]!,
      path: next(25) === 0 ? "/" : Array.from({ length: 1 + next(3) }, () => "/" + ["a", "b", "a-", "ab"][next(4)]).join(""),
    }));
    assert.deepEqual(firstOverlaps(places), overlapsByPairs(places), JSON.stringify(places));
  }
});

test("a manifest with 50,000 targets validates (issue 18 item 8: the overlap check compared every pair)", () => {
  const lines = ["version: 1", "hosts:", ...[0, 1, 2, 3].map((h) => `  h${h}: { address: 127.0.0.${h + 2} }`), "syncs:", "  site:", "    source: /srv", "    targets:"];
  for (let i = 0; i < 50_000; i++) lines.push(`    - h${i % 4}:/t${i}`);
  const { manifest, diagnostics } = parseManifest(lines.join("\n") + "\n", "big.yaml");
  assert.deepEqual(diagnostics, []);
  assert.equal(manifest?.syncs[0]?.targets.length, 50_000);
  // At that size, planted overlaps are still each named against the right earlier target.
  const places = Array.from({ length: 50_000 }, (_, i): Place => ({ machine: `h${i % 4}`, path: `/t${i}` }));
  places.push({ machine: "h1", path: "/t49997/inside" }, { machine: "h3", path: "/t3" }, { machine: "h0", path: "/" }, { machine: "h2", path: "/t2" });
  const found = firstOverlaps(places);
  assert.deepEqual(found.slice(50_000), [49_997, 3, 0, 2]);
  assert.ok(found.slice(0, 50_000).every((j) => j === undefined));
});

test("proxyJump: a hop naming a host brings its own chain; defaults' chain stops before the host itself; ad-hoc hops log in like their target", () => {
  const { manifest, diagnostics } = parseManifest(
    [
      "version: 1",
      "defaults: { user: deploy, proxyJump: outer }",
      "hosts:",
      "  outer: { address: gw.example.org, port: 2222 }",
      "  inner: { address: 10.0.0.2, proxyJump: outer }",
      "  web: { address: 10.0.0.3, proxyJump: \"inner,ops@10.0.0.9:23\", sshConfig: false }",
      "  plain: { address: 10.0.0.4 }",
      "  direct: { address: 10.0.0.5, proxyJump: none }",
    ].join("\n"),
    "tsync.yaml",
  );
  assert.deepEqual(diagnostics, []);
  const chain = (n: string) => manifest!.hosts.get(n)!.proxyJump?.map((h) => `${h.user}@${h.address}:${h.port ?? "-"}`);
  assert.deepEqual(chain("outer"), []);
  assert.deepEqual(chain("inner"), ["deploy@gw.example.org:2222"]);
  assert.deepEqual(chain("web"), ["deploy@gw.example.org:2222", "deploy@10.0.0.2:-", "ops@10.0.0.9:23"]);
  assert.deepEqual(manifest!.hosts.get("web")!.proxyJump![2]!.sshConfig, []);
  assert.deepEqual(chain("plain"), ["deploy@gw.example.org:2222"]);
  assert.deepEqual(chain("direct"), []);
});

test("sshConfig: true is ~/.ssh/config then /etc/ssh/ssh_config; a relative PATH resolves against the manifest's directory; false is none", () => {
  const { manifest, diagnostics } = parseManifest(
    ["version: 1", "defaults: { sshConfig: deploy/ssh_config }", "hosts:", "  a: { address: 10.0.0.1 }", "  b: { address: 10.0.0.2, sshConfig: false }", "  c: { address: 10.0.0.3, sshConfig: true }"].join("\n"),
    "/srv/estate/tsync.yaml",
  );
  assert.deepEqual(diagnostics, []);
  assert.deepEqual(manifest!.hosts.get("a")!.sshConfig, ["/srv/estate/deploy/ssh_config"]);
  assert.deepEqual(manifest!.hosts.get("b")!.sshConfig, []);
  assert.deepEqual(manifest!.hosts.get("c")!.sshConfig, [join(homedir(), ".ssh/config"), "/etc/ssh/ssh_config"]);
});

test("issue 19: code excluding wp-content/uploads/ and an uploads sync with delete: false are disjoint; protect normalizes", () => {
  const yaml = (codeRules: string) => `version: 1
hosts:
  master: { address: 127.0.0.1, roles: [master] }
  www-01: { address: 127.0.0.2, roles: [replica] }
syncs:
  code:
    source: /var/www/site
    targets: { roles: [replica], path: /var/www/site }
${codeRules}
  uploads:
    source: /var/www/site/wp-content/uploads
    targets: { roles: [replica], path: /var/www/site/wp-content/uploads }
    delete: false
`;
  const ok = parseManifest(yaml(`    exclude: [".git/", "wp-content/uploads/"]\n    protect: ["wp-content/cache/", "*.node-only"]`), "tsync.yaml");
  assert.deepEqual(ok.diagnostics.map(formatDiagnostic), []);
  const [code, uploads] = ok.manifest!.syncs;
  assert.deepEqual(code!.rules.protect, ["wp-content/cache/", "*.node-only"]);
  assert.equal(uploads!.rules.protect, undefined);
  assert.equal(uploads!.rules.delete, false);
  // Protecting the inner path is not enough: the outer sync would still write into it.
  for (const rules of [`    protect: ["wp-content/uploads/"]`, `    exclude: ["*.tmp"]`]) {
    const bad = parseManifest(yaml(rules), "tsync.yaml");
    assert.deepEqual(bad.diagnostics.map((d) => d.code), ["overlapping-targets"], rules);
    assert.match(bad.diagnostics[0]!.message, /www-01:\/var\/www\/site\/wp-content\/uploads overlaps www-01:\/var\/www\/site, a target of sync "code"/);
  }
});

test("a target path ~/DIR on a host is below its login directory: kept as written, checked for overlap with other ~/ paths of that host", () => {
  const hosts = `version: 1\nhosts:\n  www-01: { address: 10.0.1.21, roles: [replica] }\n  www-02: { address: 10.0.1.22, roles: [replica] }\n`;
  const ok = parseManifest(`${hosts}syncs:\n  a: { source: /srv/a, targets: ["www-01:~/site/", "www-01:/home/u/site"] }\n  b: { source: /srv/b, targets: { roles: [replica], path: "~/./b//c" } }\n`, "t.yaml");
  assert.deepEqual(ok.diagnostics, []);
  assert.deepEqual(ok.manifest!.syncs.map((s) => s.targets), [
    [{ host: "www-01", path: "~/site" }, { host: "www-01", path: "/home/u/site" }],
    [{ host: "www-01", path: "~/b/c" }, { host: "www-02", path: "~/b/c" }],
  ]);
  const nested = parseManifest(`${hosts}syncs:\n  a: { source: /srv/a, targets: ["www-01:~/site"] }\n  b: { source: /srv/b, targets: ["www-01:~/site/uploads", "www-02:~/site/uploads"] }\n`, "t.yaml");
  assert.deepEqual(nested.diagnostics.map((d) => [d.code, d.path]), [["overlapping-targets", "syncs.b.targets[0]"]]);
});

test("settings.hashCache: a directory resolved like other local paths, false for none, absent for the default", async () => {
  const { Fleet } = await import("../../reconciler/run/fleet.js");
  const at = (settings: string) => parseManifest(`version: 1\nsettings: ${settings}\nsyncs: {}\n`, "/etc/tsync/tsync.yaml");
  const dir = (settings: string) => new Fleet(at(settings).manifest!).hashCacheDir;
  assert.equal(dir("{ hashCache: cache }"), "/etc/tsync/cache");
  assert.equal(dir("{ hashCache: false }"), undefined);
  const saved = process.env.XDG_CACHE_HOME;
  try {
    process.env.XDG_CACHE_HOME = "/var/cache/x";
    assert.equal(dir("{}"), "/var/cache/x/tsync");
    process.env.XDG_CACHE_HOME = "relative/ignored";
    assert.equal(dir("{}"), join(homedir(), ".cache", "tsync"));
  } finally {
    if (saved === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = saved;
  }
  assert.deepEqual(at("{ hashCache: true }").diagnostics.map(formatDiagnostic), ["/etc/tsync/tsync.yaml:2:24: settings.hashCache: must be false or a path to a directory"]);
});

import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { TsyncError } from "../../reconciler/model/errors.js";
import { loadManifest, parseManifest } from "../../reconciler/manifest/load.js";
import type { Manifest, NginxSettings } from "../../reconciler/model/manifest.js";
import { applyNginx, nginxErrorLines, planNginx } from "../../reconciler/nginx/deploy.js";
import { renderNginx } from "../../reconciler/nginx/render.js";
import { downHosts } from "../../reconciler/nginx/routing.js";
import { worstHostStates, type TargetState as HostState } from "../../reconciler/model/plan.js";
import { FakeTransport } from "../support/fake-transport.js";
import { nginxManifest, seedManifest } from "../support/nginx.js";

const FIXTURES = new URL("../../../fixtures/nginx/", import.meta.url);

/** Golden files: `TSYNC_UPDATE_GOLDEN=1` rewrites them (review the diff before committing). */
function golden(name: string, actual: string): void {
  const file = new URL(name, FIXTURES);
  if (process.env.TSYNC_UPDATE_GOLDEN === "1") writeFileSync(file, actual);
  assert.ok(existsSync(file), `missing golden file fixtures/nginx/${name} (TSYNC_UPDATE_GOLDEN=1 writes it)`);
  assert.equal(actual, readFileSync(file, "utf8"), `golden file fixtures/nginx/${name}`);
}

test("fixtures/seed/tsync.yaml renders the golden config", () => {
  const loaded = loadManifest(fileURLToPath(new URL("../../../fixtures/seed/tsync.yaml", import.meta.url)));
  assert.deepEqual(loaded.diagnostics.filter((d) => d.severity === "error"), []);
  // The header names the manifest as the user gave it; pin it so the golden file does not depend on cwd.
  const { text, warnings } = renderNginx({ ...loaded.manifest!, file: "fixtures/seed/tsync.yaml" });
  golden("seed.conf", text);
  assert.equal(renderNginx(seedManifest()).text, text, "the hand-built seed manifest matches the fixture");
  assert.deepEqual(warnings, []);
  // Consistent with the roles: content goes to www-01..03, and so does traffic (the seed's own configs disagreed).
  assert.match(text, /upstream backend \{\n  server 10\.0\.1\.20;  # master\n  server 10\.0\.1\.21;  # www-01\n  server 10\.0\.1\.22;  # www-02\n  server 10\.0\.1\.23;  # www-03\n\}/);
  assert.match(text, /upstream admin \{\n  server 10\.0\.1\.20;  # master\n\}/);
  assert.match(text, /location ~ \/wp-admin\/ \{[^}]*proxy_pass http:\/\/admin;/);
});

test("down hosts, ports and IPv6 render as documented", () => {
  const m = nginxManifest({
    hosts: {
      master: { address: "10.0.1.20", roles: ["master"] },
      "www-01": { address: "fd00::21", roles: ["replica"] },
      "www-02": { address: "web2.example.internal", roles: ["replica"] },
    },
    upstreams: { backend: { roles: ["master", "replica"], port: 8080 }, admin: { roles: ["master"] } },
    servers: [{ names: ["example.org", "*.example.org"], listen: "127.0.0.1:8080 default_server", locations: { "/": "backend", "^~ /wp-admin/": "admin", "~* \\.php$": "admin" } }],
  });
  const { text, warnings } = renderNginx(m, new Set(["www-01"]));
  golden("ports-ipv6-down.conf", text);
  assert.deepEqual(warnings, []);
  assert.match(text, /server \[fd00::21\]:8080 down;  # www-01/);
  assert.match(text, /server web2\.example\.internal:8080;  # www-02/);
  assert.match(text, /location ~\* \\\.php\$ \{/);
});

test("web: upstreams use a host's web address, not how SSH reaches it (issue 14: a tunnel endpoint was rendered)", () => {
  const { manifest, diagnostics } = parseManifest(
    [
      "version: 1",
      "hosts:",
      "  bastion: { address: gw.example.org, roles: [] }",
      "  www-03: { address: www-03-tunnel, web: 10.0.1.23, proxyJump: bastion, roles: [replica] }",
      "  www-04: { address: 10.0.1.24, roles: [replica] }",
      "nginx:",
      "  path: /etc/nginx/conf.d/site.conf",
      "  upstreams: { backend: { roles: [replica] } }",
      "  servers: [{ names: [example.org], locations: { \"/\": backend } }]",
    ].join("\n"),
    "tsync.yaml",
  );
  assert.deepEqual(diagnostics, []);
  const { text } = renderNginx(manifest!);
  assert.match(text, /upstream backend \{\n  server 10\.0\.1\.23;  # www-03\n  server 10\.0\.1\.24;  # www-04\n\}/);
  assert.doesNotMatch(text, /tunnel/);
});

test("an upstream whose every server is down keeps its first one, with a warning", () => {
  const { text, warnings } = renderNginx(seedManifest(), new Set(["master"]));
  assert.match(text, /upstream admin \{\n  server 10\.0\.1\.20;  # master\n\}/);
  assert.match(text, /server 10\.0\.1\.20 down;  # master/);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /upstream admin/);
});

test("an upstream no location uses is a warning", () => {
  const m = nginxManifest({
    hosts: { a: { address: "10.0.0.1", roles: ["web"] } },
    upstreams: { used: { roles: ["web"] }, spare: { roles: ["web"] } },
    servers: [{ names: ["x.org"], listen: "80", locations: { "/": "used" } }],
  });
  assert.deepEqual(renderNginx(m).warnings, ["upstream spare: no location uses it"]);
});

// Each case breaks one manifest string; the renderer must refuse it and name the field.
type Mutate = (m: Manifest) => Manifest;
const withNginx = (f: (n: NginxSettings) => Partial<NginxSettings>): Mutate => (m) => ({ ...m, nginx: { ...m.nginx!, ...f(m.nginx!) } });
const renameUpstream = (name: string): Mutate =>
  withNginx((n) => ({
    upstreams: n.upstreams.map((u) => (u.name === "backend" ? { ...u, name } : u)),
    servers: n.servers.map((s) => ({ ...s, locations: s.locations.map((l) => (l.upstream === "backend" ? { ...l, upstream: name } : l)) })),
  }));
const setServer = (patch: Record<string, unknown>): Mutate => withNginx((n) => ({ servers: [{ ...n.servers[0]!, ...patch }] }));
const setLocation = (match: string): Mutate => withNginx((n) => ({ servers: [{ ...n.servers[0]!, locations: [{ match, upstream: "backend" }] }] }));
const setAddress = (address: string): Mutate => (m) => {
  const hosts = new Map(m.hosts);
  hosts.set("www-01", { ...hosts.get("www-01")!, address });
  return { ...m, hosts };
};
const renameHost = (name: string): Mutate => (m) => {
  const hosts = new Map([...m.hosts].map(([k, h]) => (k === "www-01" ? [name, { ...h, name }] : [k, h])));
  return withNginx((n) => ({ upstreams: n.upstreams.map((u) => ({ ...u, hosts: u.hosts.map((h) => (h === "www-01" ? name : h)) })) }))({ ...m, hosts });
};

const injections: [string, Mutate, RegExp][] = [
  ["upstream name with ;", renameUpstream("backend; include /etc/passwd"), /nginx\.upstreams\[0\]/],
  ["upstream name with }", renameUpstream("backend}"), /nginx\.upstreams\[0\]/],
  ["upstream name with {", renameUpstream("a{b"), /nginx\.upstreams\[0\]/],
  ["upstream name with newline", renameUpstream("backend\nserver 6.6.6.6"), /nginx\.upstreams\[0\]/],
  ["upstream name with quote", renameUpstream('back"end'), /nginx\.upstreams\[0\]/],
  ["upstream name with $", renameUpstream("$host"), /nginx\.upstreams\[0\]/],
  ["host name with newline", renameHost("www-01\nserver 6.6.6.6;"), /nginx\.upstreams\.backend\.hosts\[1\]/],
  ["host name with ;", renameHost("www;01"), /nginx\.upstreams\.backend\.hosts\[1\]/],
  ["address with ;", setAddress("10.0.1.21; server 6.6.6.6"), /hosts\.www-01\.address/],
  ["address with newline", setAddress("10.0.1.21\n}"), /hosts\.www-01\.address/],
  ["address with $", setAddress("$host"), /hosts\.www-01\.address/],
  ["server name with ;", setServer({ names: ["a.org;"] }), /nginx\.servers\[0\]\.names\[0\]/],
  ["server name with space", setServer({ names: ["a.org return 200"] }), /nginx\.servers\[0\]\.names\[0\]/],
  ["server name with }", setServer({ names: ["a.org}"] }), /nginx\.servers\[0\]\.names\[0\]/],
  ["server name with $", setServer({ names: ["$host"] }), /nginx\.servers\[0\]\.names\[0\]/],
  ["listen with ;", setServer({ listen: "80; include /etc/passwd" }), /nginx\.servers\[0\]\.listen/],
  ["listen with newline", setServer({ listen: "80\nroot /" }), /nginx\.servers\[0\]\.listen/],
  ["location with {", setLocation("/ { return 200; } location /x"), /nginx\.servers\[0\]\.locations\["\/ \{/],
  ["location with ;", setLocation("/x;"), /nginx\.servers\[0\]\.locations/],
  ["location with quote", setLocation("/x'"), /nginx\.servers\[0\]\.locations/],
  ["location with newline", setLocation("/x\n}"), /nginx\.servers\[0\]\.locations/],
  ["location ending in a backslash", setLocation("~ /x\\"), /nginx\.servers\[0\]\.locations/],
  ["location with an unknown modifier", setLocation("! /x"), /unknown modifier/],
  ["prefix location not starting with /", setLocation("x"), /must start with/],
  ["location to an unknown upstream", withNginx((n) => ({ servers: [{ ...n.servers[0]!, locations: [{ match: "/", upstream: "backend;x" }] }] })), /unknown upstream/],
  ["upstream port out of range", withNginx((n) => ({ upstreams: n.upstreams.map((u) => ({ ...u, port: 70000 })) })), /nginx\.upstreams\.backend\.port/],
  ["upstream without hosts", withNginx((n) => ({ upstreams: n.upstreams.map((u) => ({ ...u, hosts: [] })) })), /nginx\.upstreams\.backend: no host/],
];

for (const [name, mutate, field] of injections) {
  test(`refuses: ${name}`, () => {
    assert.throws(() => renderNginx(mutate(seedManifest())), (err: unknown) => {
      assert.ok(err instanceof TsyncError, `expected TsyncError, got ${String(err)}`);
      assert.match(err.message, field);
      return true;
    });
  });
}

test("a manifest file name cannot break out of the header comment", () => {
  const { text } = renderNginx(seedManifest("evil\nserver { listen 1; }\n.yaml"));
  assert.equal(text.split("\n").filter((l) => l.startsWith("server {")).length, 1);
  assert.match(text.split("\n")[0]!, /^# Generated by tsync from evil\?server \{ listen 1; \}\?\.yaml\./);
});

// downHosts: [name, drifted mode, states, expected down, warning pattern or undefined]
const seedNginx = seedManifest().nginx!;
const replicaOnly: NginxSettings = { ...seedNginx, drifted: "down", upstreams: [{ name: "replicas", roles: ["replica"], hosts: ["www-01", "www-02", "www-03"] }] };
const st = (o: Record<string, HostState>): Map<string, HostState> => new Map(Object.entries(o));
const routing: [string, NginxSettings, Map<string, HostState>, string[], RegExp | undefined][] = [
  ["keep never changes routing", seedNginx, st({ "www-01": "drifted", "www-02": "unreachable" }), [], undefined],
  ["down: drifted and unreachable leave", { ...seedNginx, drifted: "down" }, st({ "www-01": "drifted", "www-02": "unreachable", "www-03": "in-sync" }), ["www-01", "www-02"], undefined],
  ["down: hosts not in the map count as in-sync", { ...seedNginx, drifted: "down" }, st({}), [], undefined],
  ["down: every replica out, the master still serves", { ...seedNginx, drifted: "down" }, st({ "www-01": "drifted", "www-02": "drifted", "www-03": "unreachable" }), ["www-01", "www-02", "www-03"], undefined],
  ["down: last standing is the least bad", replicaOnly, st({ "www-01": "unreachable", "www-02": "drifted", "www-03": "unreachable" }), ["www-01", "www-03"], /upstream replicas/],
  ["down: last standing ties go to manifest order", replicaOnly, st({ "www-01": "drifted", "www-02": "drifted", "www-03": "drifted" }), ["www-02", "www-03"], /keeping www-01/],
];
for (const [name, nginx, states, want, warning] of routing) {
  test(`downHosts: ${name}`, () => {
    const { down, warnings } = downHosts(nginx, states);
    assert.deepEqual([...down].sort(), want);
    if (warning === undefined) assert.deepEqual(warnings, []);
    else assert.ok(warnings.length === 1 && warning.test(warnings[0]!), warnings.join("\n"));
  });
}

/** In-memory Transport: files by absolute path; commands answered by `onRun`, `rm -f` removes a file. */
function fakeTransport(files: Map<string, Buffer>, onRun: (cmd: string) => { code: number; output: string }): FakeTransport {
  return new FakeTransport("fake", (cmd) => {
    const rm = /^rm -f -- '(.*)'$/.exec(cmd);
    if (!rm) return onRun(cmd);
    files.delete(rm[1]!);
    return { code: 0, output: "" };
  }, files);
}

const PATH = "/etc/nginx/conf.d/site.conf";
const small = () => nginxManifest({
  path: PATH,
  hosts: { a: { address: "10.0.0.1", roles: ["web"] } },
  upstreams: { web: { roles: ["web"] } },
  servers: [{ names: ["x.org"], listen: "80", locations: { "/": "web" } }],
});
const EMERG = 'nginx: [emerg] unknown directive "bogus" in /etc/nginx/conf.d/site.conf:3\nnginx: configuration file /etc/nginx/nginx.conf test failed\n';

test("plan: unchanged file → no diff; missing file → diff from /dev/null", async () => {
  const m = small();
  const text = renderNginx(m).text;
  const same = await planNginx(m, fakeTransport(new Map([[PATH, Buffer.from(text)]]), () => ({ code: 0, output: "" })));
  assert.equal(same.changed, false);
  assert.equal(same.diff, "");
  const fresh = await planNginx(m, fakeTransport(new Map(), () => ({ code: 0, output: "" })));
  assert.equal(fresh.changed, true);
  assert.equal(fresh.before, undefined);
  assert.match(fresh.diff, /^--- \/dev\/null/m);
  assert.match(fresh.diff, /^\+upstream web \{$/m);
});

test("apply: a failing test restores the old bytes exactly and never reloads", async () => {
  const old = Buffer.from([0x23, 0x20, 0xff, 0xfe, 0x0a]); // not UTF-8: a decoded copy would differ
  const files = new Map([[PATH, old]]);
  const t = fakeTransport(files, (cmd) => (cmd === "nginx -t" ? { code: 1, output: EMERG } : { code: 0, output: "" }));
  const m = small();
  const plan = await planNginx(m, t);
  const r = await applyNginx(plan, m.nginx!, t);
  assert.equal(r.ok, false);
  assert.ok(!r.ok && /unknown directive "bogus"/.test(r.error) && /old config restored/.test(r.error), !r.ok ? r.error : "");
  assert.ok(!r.ok && !/test failed$/.test(r.error));
  assert.deepEqual(files.get(PATH), old);
  assert.deepEqual(t.ran, ["nginx -t"]);
});

test("apply: a failing test with no previous file removes the new one", async () => {
  const files = new Map<string, Buffer>();
  const t = fakeTransport(files, () => ({ code: 1, output: EMERG }));
  const m = small();
  const r = await applyNginx(await planNginx(m, t), m.nginx!, t);
  assert.ok(!r.ok && /new file removed/.test(r.error));
  assert.equal(files.has(PATH), false);
});

test("apply: success writes and reloads; unchanged does neither", async () => {
  const files = new Map([[PATH, Buffer.from("# old\n")]]);
  const t = fakeTransport(files, () => ({ code: 0, output: "" }));
  const m = small();
  assert.deepEqual(await applyNginx(await planNginx(m, t), m.nginx!, t), { ok: true, reloaded: true });
  assert.equal(files.get(PATH)!.toString(), renderNginx(m).text);
  assert.deepEqual(t.ran, ["nginx -t", "nginx -s reload"]);
  assert.deepEqual(await applyNginx(await planNginx(m, t), m.nginx!, t), { ok: true, reloaded: false });
  assert.equal(t.ran.length, 2);
});

test("apply: a failed reload is an error and puts the old file back", async () => {
  const files = new Map([[PATH, Buffer.from("# old\n")]]);
  const t = fakeTransport(files, (cmd) => (cmd.includes("reload") ? { code: 1, output: 'nginx: [error] open() "/run/nginx.pid" failed (2: No such file or directory)' } : { code: 0, output: "" }));
  const m = small();
  const r = await applyNginx(await planNginx(m, t), m.nginx!, t);
  assert.ok(!r.ok && /reload failed/.test(r.error) && /nginx\.pid/.test(r.error));
  assert.equal(files.get(PATH)!.toString(), "# old\n");
});

test("apply: a file changed since the plan is refused, nothing written or run", async () => {
  const files = new Map([[PATH, Buffer.from("# old\n")]]);
  const t = fakeTransport(files, () => ({ code: 0, output: "" }));
  const m = small();
  const plan = await planNginx(m, t);
  files.set(PATH, Buffer.from("# edited by hand\n"));
  const r = await applyNginx(plan, m.nginx!, t);
  assert.ok(!r.ok && /changed since the plan/.test(r.error));
  assert.equal(files.get(PATH)!.toString(), "# edited by hand\n");
  assert.deepEqual(t.ran, []);
});

test("nginxErrorLines keeps nginx's own diagnostics", () => {
  assert.equal(nginxErrorLines(EMERG, 1), 'nginx: [emerg] unknown directive "bogus" in /etc/nginx/conf.d/site.conf:3');
  assert.equal(nginxErrorLines("", 127), "exit code 127, no output");
  assert.equal(nginxErrorLines("sh: 1: nginx: not found\n", 127), "sh: 1: nginx: not found");
});

test("worstHostStates: the worst state of a host's targets wins; local targets have no host", () => {
  const got = worstHostStates([["a", "in-sync"], ["a", "unreachable"], ["a", "drifted"], ["b", "drifted"], ["b", "in-sync"], [undefined, "unreachable"]]);
  assert.deepEqual([...got], [["a", "unreachable"], ["b", "drifted"]]);
});

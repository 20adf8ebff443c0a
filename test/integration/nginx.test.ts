// Real nginx as the balancer on 127.0.0.1, real HTTP backends on 127.0.0.2–5 (master + 3 replicas):
// the rendered config routes as the roles say, `drifted: down` takes a node out and puts it back, and
// a config nginx rejects never replaces the running one.
import assert from "node:assert/strict";
import { exec } from "node:child_process";
import { readFile, rename, writeFile } from "node:fs/promises";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { loadManifest } from "../../reconciler/manifest/load.js";
import type { Manifest } from "../../reconciler/model/manifest.js";
import { applyNginx, planNginx } from "../../reconciler/nginx/deploy.js";
import { renderNginx } from "../../reconciler/nginx/render.js";
import { downHosts } from "../../reconciler/nginx/routing.js";
import { toBytes } from "../../reconciler/model/paths.js";
import type { NginxPlan } from "../../reconciler/model/plan.js";
import type { Transport } from "../../reconciler/transport/types.js";
import { httpGet, seedManifest, startHttpBackends, startNginx, type Backends, type Nginx } from "../support/nginx.js";
import { freePort } from "../support/processes.js";

/** What nginx deploy uses of a Transport, on this machine. */
const local = {
  host: "local",
  async readFile(root: string, path: string) {
    try {
      return await readFile(Buffer.concat([Buffer.from(root + "/"), toBytes(path)]));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw err;
    }
  },
  async writeFile(absPath: string, data: Buffer) {
    const tmp = `${absPath}.tsync-tmp`;
    await writeFile(tmp, data);
    await rename(tmp, absPath);
  },
  run(command: string) {
    return new Promise<{ code: number; output: string }>((resolve) => {
      exec(command, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }));
    });
  },
} as unknown as Transport;

const NODES = { master: "127.0.0.2", "www-01": "127.0.0.3", "www-02": "127.0.0.4", "www-03": "127.0.0.5" };
let ng: Nginx;
let backends: Backends;
let manifest: Manifest;
let failed = false;

before(async () => {
  const lbPort = await freePort("127.0.0.1");
  const backendPort = await freePort("127.0.0.2");
  ng = await startNginx({ listen: `127.0.0.1:${lbPort}` });
  backends = await startHttpBackends(NODES, backendPort);
  // The real loader: roles in YAML → upstream hosts in the resolved manifest.
  const dir = mkdtempSync(join(tmpdir(), "tsync-nginx-manifest-"));
  const file = join(dir, "tsync.yaml");
  writeFileSync(
    file,
    [
      "version: 1",
      "hosts:",
      ...Object.entries(NODES).map(([name, addr]) => `  ${name}: { address: ${addr}, roles: [${name === "master" ? "master" : "replica"}] }`),
      "syncs:",
      "  site: { source: /srv/site, targets: { roles: [replica], path: /srv/site } }",
      "nginx:",
      `  path: ${ng.confPath}`,
      `  test: ${JSON.stringify(ng.testCommand)}`,
      `  reload: ${JSON.stringify(ng.reloadCommand)}`,
      "  drifted: down",
      "  upstreams:",
      `    backend: { roles: [master, replica], port: ${backendPort} }`,
      `    admin: { roles: [master], port: ${backendPort} }`,
      "  servers:",
      `    - { names: [tsync.test], listen: "127.0.0.1:${lbPort}", locations: { "/": backend, "~ /wp-admin/": admin } }`,
      "",
    ].join("\n"),
  );
  const loaded = loadManifest(file);
  rmSync(dir, { recursive: true, force: true });
  assert.deepEqual(loaded.diagnostics.filter((d) => d.severity === "error"), [], "manifest loads");
  manifest = loaded.manifest!;
  assert.deepEqual(manifest.nginx!.upstreams.map((u) => [u.name, u.hosts, u.port]), [["backend", Object.keys(NODES), backendPort], ["admin", ["master"], backendPort]]);
});

after(async () => {
  await backends?.close();
  await ng?.stop({ keep: failed });
});

/** Marks the run failed (logs are kept) when a test throws. */
function it(name: string, fn: () => Promise<void>): void {
  test(name, async () => {
    try {
      await fn();
    } catch (err) {
      failed = true;
      throw err;
    }
  });
}

async function deploy(down?: ReadonlySet<string>): Promise<NginxPlan> {
  const plan = await planNginx(manifest, local, down);
  assert.equal(plan.error, undefined);
  const workers = ng.workers();
  const r = await applyNginx(plan, manifest.nginx!, local);
  assert.deepEqual(r, { ok: true, reloaded: plan.changed }, `apply: ${JSON.stringify(r)}\n${ng.errorLog().slice(-1500)}`);
  if (plan.changed) await ng.waitReloaded(workers);
  return plan;
}

async function spread(path: string, n: number): Promise<Map<string, number>> {
  backends.reset();
  for (let i = 0; i < n; i++) {
    const r = await httpGet(ng.url + path, { Host: "tsync.test" });
    assert.equal(r.status, 200, `GET ${path}: ${r.status} ${r.body}`);
  }
  return backends.counts();
}

it("the rendered config replaces the placeholder and spreads GET / over all four nodes", async () => {
  const plan = await deploy();
  assert.equal(plan.changed, true);
  assert.match(plan.diff, /^\+upstream backend \{$/m);
  assert.equal(readFileSync(ng.confPath, "utf8"), renderNginx(manifest).text);
  const counts = await spread("/", 40);
  for (const [node, n] of counts) assert.ok(n > 0, `${node} served none of 40: ${JSON.stringify([...counts])}`);
  // The seed's headers reach the backend: it sees the client, not the balancer.
  const hit = backends.hits[0]!;
  assert.equal(hit.headers["host"], "tsync.test");
  assert.equal(hit.headers["x-real-ip"], "127.0.0.1");
  assert.equal(hit.headers["x-forwarded-for"], "127.0.0.1");
});

it("a second plan sees no change and apply does not reload", async () => {
  const workers = ng.workers();
  const plan = await planNginx(manifest, local);
  assert.equal(plan.changed, false);
  assert.deepEqual(await applyNginx(plan, manifest.nginx!, local), { ok: true, reloaded: false });
  assert.deepEqual(ng.workers().sort(), workers.sort());
});

it("GET /wp-admin/… always reaches the master", async () => {
  const counts = await spread("/wp-admin/post.php?x=1", 20);
  assert.deepEqual(Object.fromEntries(counts), { master: 20, "www-01": 0, "www-02": 0, "www-03": 0 });
});

it("drifted: down takes a drifted replica out of rotation and puts it back when it converges", async () => {
  const { down, warnings } = downHosts(manifest.nginx!, new Map([["www-02", "drifted"], ["www-01", "in-sync"]]));
  assert.deepEqual([...down], ["www-02"]);
  assert.deepEqual(warnings, []);
  const plan = await deploy(down);
  assert.match(plan.diff, /^\+  server 127\.0\.0\.4:\d+ down;  # www-02/m);
  let counts = await spread("/", 40);
  assert.equal(counts.get("www-02"), 0, JSON.stringify([...counts]));
  for (const node of ["master", "www-01", "www-03"]) assert.ok(counts.get(node)! > 0, `${node}: ${JSON.stringify([...counts])}`);

  const back = downHosts(manifest.nginx!, new Map([["www-02", "in-sync"]]));
  await deploy(back.down);
  counts = await spread("/", 40);
  assert.ok(counts.get("www-02")! > 0, JSON.stringify([...counts]));
});

it("a config nginx rejects is never kept: old bytes restored, no reload, nginx still answering", async () => {
  const current = await planNginx(manifest, local);
  const oldBytes = readFileSync(ng.confPath);
  const workers = ng.workers();
  // Test-only path: a crafted plan whose text the renderer could never produce.
  const broken: NginxPlan = { ...current, after: current.after + "bogus_directive on;\n", changed: true, diff: "(crafted)" };
  const r = await applyNginx(broken, manifest.nginx!, local);
  assert.equal(r.ok, false);
  assert.ok(!r.ok && /\[emerg\] unknown directive "bogus_directive"/.test(r.error), !r.ok ? r.error : "");
  assert.ok(!r.ok && /old config restored, not reloaded/.test(r.error));
  assert.deepEqual(readFileSync(ng.confPath), oldBytes);
  assert.deepEqual(ng.workers().sort(), workers.sort());
  const counts = await spread("/", 8);
  assert.equal([...counts.values()].reduce((a, b) => a + b, 0), 8);
});

it("a failing test command restores the old bytes and reports its output", async () => {
  const oldBytes = readFileSync(ng.confPath);
  const plan = await planNginx(manifest, local, new Set(["www-01"]));
  assert.equal(plan.changed, true);
  const settings = { ...manifest.nginx!, test: `sh -c 'echo "nginx: [emerg] injected failure" >&2; exit 1'` };
  const workers = ng.workers();
  const r = await applyNginx(plan, settings, local);
  assert.ok(!r.ok && /injected failure/.test(r.error), JSON.stringify(r));
  assert.deepEqual(readFileSync(ng.confPath), oldBytes);
  assert.deepEqual(ng.workers().sort(), workers.sort());
  assert.equal((await httpGet(ng.url + "/", { Host: "tsync.test" })).status, 200);
});

it("the golden seed config passes real `nginx -t`", async () => {
  const oldBytes = readFileSync(ng.confPath);
  const golden = readFileSync(new URL("../../../fixtures/nginx/seed.conf", import.meta.url), "utf8");
  assert.equal(golden, renderNginx(seedManifest()).text);
  try {
    writeFileSync(ng.confPath, golden);
    const r = await ng.test();
    assert.equal(r.code, 0, r.output);
  } finally {
    writeFileSync(ng.confPath, oldBytes);
  }
});

// `drifted: down` in the daemon: routing follows the status, but only once a new routing has held for
// `stableMs` — a flapping target must not flap nginx.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseManifest } from "../../reconciler/manifest/load.js";
import type { Manifest } from "../../reconciler/model/manifest.js";
import { followRouting, hostStatesFromStatus, nginxForWatch } from "../../reconciler/watch/nginx-follow.js";
import { FakeTransport } from "../support/fake-transport.js";
import { FakeClock, flushMicrotasks } from "../../reconciler/watch/clock.js";
import type { StatusDoc, TargetStatusState } from "../../reconciler/watch/status.js";

const CONF = "/etc/nginx/conf.d/site.conf";

function manifest(): Manifest {
  const { manifest, diagnostics } = parseManifest(
    `version: 1
hosts:
  master: { address: 10.0.0.1, roles: [master] }
  www-01: { address: 10.0.0.2, roles: [replica] }
  www-02: { address: 10.0.0.3, roles: [replica] }
syncs:
  site: { source: /srv/site, targets: { roles: [replica], path: /var/www/site } }
nginx:
  path: ${CONF}
  drifted: down
  upstreams: { backend: { roles: [master, replica] } }
  servers: [{ names: [site.test], locations: { "/": backend } }]
`,
    "tsync.yaml",
  );
  assert.deepEqual(diagnostics, []);
  return manifest!;
}


function status(states: Record<string, TargetStatusState>): StatusDoc {
  return {
    syncs: [{ name: "site", targets: Object.entries(states).map(([host, state]) => ({ target: `${host}:/var/www/site`, state })) }],
  } as unknown as StatusDoc;
}

test("hostStatesFromStatus: failed and unreachable both count as unreachable; syncing as in sync", () => {
  const m = manifest();
  const got = hostStatesFromStatus(m, status({ "www-01": "failed", "www-02": "syncing" }));
  assert.deepEqual([...got], [["www-01", "unreachable"], ["www-02", "in-sync"]]);
  assert.deepEqual([...hostStatesFromStatus(m, status({ "www-01": "drifted", "www-02": "unreachable" }))], [["www-01", "drifted"], ["www-02", "unreachable"]]);
});

test("followRouting: a drifted replica goes down only after stableMs; a flap restarts the wait", async () => {
  const m = manifest();
  const clock = new FakeClock();
  const t = new FakeTransport();
  const conf = () => t.files.get(CONF)!.toString();
  let doc = status({ "www-01": "in-sync", "www-02": "in-sync" });
  const logs: string[] = [];
  const f = followRouting({ manifest: () => m, transport: () => t, status: () => doc, log: (_l, msg) => logs.push(msg), clock, intervalMs: 1000, stableMs: 3000 });
  try {
    await f.deploy();
    assert.doesNotMatch(conf(), /down/);
    assert.deepEqual(t.ran, ["nginx -t", "nginx -s reload"]);

    doc = status({ "www-01": "in-sync", "www-02": "drifted" });
    await clock.tick(3000); // seen at 1 s, still waiting at 2 s and 3 s
    assert.doesNotMatch(conf(), /down/, "not before the new routing has held for stableMs");

    doc = status({ "www-01": "in-sync", "www-02": "in-sync" }); // a flap back ...
    await clock.tick(1000);
    doc = status({ "www-01": "in-sync", "www-02": "drifted" }); // ... and forth restarts the wait
    await clock.tick(3000);
    assert.doesNotMatch(conf(), /down/);
    await clock.tick(1000);
    assert.match(conf(), /server 10\.0\.0\.3 down;/);
    assert.equal(t.ran.length, 4, "tested and reloaded once more");

    doc = status({ "www-01": "unreachable", "www-02": "unreachable" });
    await clock.tick(5000);
    assert.match(conf(), /server 10\.0\.0\.2 down;/);
    assert.match(conf(), /server 10\.0\.0\.1;/, "the master, in sync, stays in rotation");
  } finally {
    f.stop();
    await flushMicrotasks();
  }
});

test("regression (issue 18 item 6): watch logs an nginx file it cannot read as an error, never as deployed", async () => {
  const unreadable = new FakeTransport();
  unreadable.readFile = async () => {
    throw new Error(`local: ${CONF}: EACCES: permission denied`);
  };
  const logs: string[] = [];
  const n = nginxForWatch({ manifest, transport: () => unreadable, status: () => status({}), log: (l, m) => logs.push(`${l} ${m}`), clock: new FakeClock(0), intervalMs: 1000, stableMs: 0 });
  await n.running(manifest());
  n.stop();
  assert.deepEqual(logs, [`error nginx ${CONF}: cannot read ${CONF}: local: ${CONF}: EACCES: permission denied; not deployed`]);
});

// What apply and plan tell the user about a target: the hint that comes with an error (issue 17
// defect 2), apply's JSON document against its schema with byte-exact paths (defect 3), and one
// source for the version the documents name (defect 5).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseManifest } from "../../reconciler/manifest/load.js";
import type { Manifest } from "../../reconciler/model/manifest.js";
import { HostKeyError } from "../../reconciler/model/errors.js";
import type { RelPath } from "../../reconciler/model/paths.js";
import { Fleet } from "../../reconciler/run/fleet.js";
import { planManifest } from "../../reconciler/run/plan-run.js";
import { applyPlan } from "../../reconciler/run/apply-run.js";
import type { Change } from "../../reconciler/model/change.js";
import type { Snapshot } from "../../reconciler/model/snapshot.js";
import type { ScanOptions } from "../../reconciler/scan/options.js";
import type { ApplyResult, Transport } from "../../reconciler/transport/types.js";
import { FakeTransport } from "../support/fake-transport.js";
import { checkPlanJson, parsePlanJson, toPlanJson } from "../../reconciler/views/plan-json.js";
import { checkApplyJson, toApplyJson } from "../../reconciler/views/apply-json.js";
import { renderPlanHuman } from "../../reconciler/views/plan-human.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const HINT = "ssh-keygen -R '[127.0.0.9]:22' -f /root/.ssh/known_hosts";
const keyChanged = () => new HostKeyError("www", "ssh-hostkey-changed", "host key changed: expected SHA256:a, offered SHA256:b", HINT);

/** A fleet whose host `www` is the given fake; the local source is real. */
class FakeFleet extends Fleet {
  constructor(manifest: Manifest, private readonly www: Transport) {
    super(manifest);
  }
  override transport(host: string | undefined): Transport {
    return host === "www" ? this.www : super.transport(host);
  }
}

/** www whose host key changed: every connection (scan or apply) is refused. */
class KeyChangedAt extends FakeTransport {
  constructor(private readonly at: "scan" | "apply") {
    super("www");
  }
  override async scan(root: string, opts: ScanOptions): Promise<Snapshot> {
    if (this.at === "scan") throw keyChanged();
    return super.scan(root, opts);
  }
  override async apply(root: string, changes: readonly Change[]): Promise<ApplyResult> {
    if (this.at === "apply") throw keyChanged();
    return super.apply(root, changes);
  }
}

/** www that applies all but one change, which fails on a non-UTF-8 name. */
class OneProblem extends FakeTransport {
  constructor(private readonly name: RelPath) {
    super("www");
  }
  override async apply(): Promise<ApplyResult> {
    return { applied: 1, bytes: 3, problems: [{ path: this.name, kind: "create", code: "io", message: "disk full" }] };
  }
}

function setup(t: { after: (fn: () => void) => void }): Manifest {
  const src = mkdtempSync(join(tmpdir(), "tsync-apply-json-"));
  t.after(() => rmSync(src, { recursive: true, force: true }));
  writeFileSync(join(src, "index.html"), "hi\n");
  const { manifest, diagnostics } = parseManifest(
    `version: 1\nhosts:\n  www: { address: 127.0.0.9 }\nsyncs:\n  site:\n    source: ${src}\n    targets: ["www:/srv/site"]\n`,
    "tsync.yaml",
  );
  assert.deepEqual(diagnostics, []);
  return manifest!;
}

test("a changed host key found while planning: its hint reaches the plan, both views, the saved plan and apply's outcome", async (t) => {
  const manifest = setup(t);
  const fleet = new FakeFleet(manifest, new KeyChangedAt("scan"));
  const plan = await planManifest(manifest, fleet);
  const [tp] = plan.targets;
  assert.equal(tp?.state, "unreachable");
  assert.equal(tp?.hint, HINT);
  assert.match(renderPlanHuman(plan, { color: false, quiet: false }), new RegExp(`unreachable: www: host key changed.*\\n  hint: ${HINT.replace(/[[\]().*]/g, "\\$&")}`));
  const doc = toPlanJson(plan);
  assert.equal(checkPlanJson(doc), undefined);
  assert.equal((doc.targets as { hint?: string }[])[0]?.hint, HINT);
  assert.equal(parsePlanJson(JSON.stringify(doc), "plan.json").targets[0]?.hint, HINT);
  const report = await applyPlan(manifest, fleet, plan);
  assert.equal(report.targets[0]?.hint, HINT);
  const applied = toApplyJson(plan, report);
  assert.equal(checkApplyJson(applied), undefined);
  assert.equal((applied.result as { targets: { hint?: string }[] }).targets[0]?.hint, HINT);
});

test("a changed host key met by apply itself keeps its hint", async (t) => {
  const manifest = setup(t);
  const fleet = new FakeFleet(manifest, new KeyChangedAt("apply"));
  const plan = await planManifest(manifest, fleet);
  assert.equal(plan.targets[0]?.state, "drifted");
  const report = await applyPlan(manifest, fleet, plan);
  assert.deepEqual([report.targets[0]?.status, report.targets[0]?.hint], ["unreachable", HINT]);
});

test("apply --json: valid against schemas/apply.schema.json, and a non-UTF-8 problem path keeps its exact bytes", async (t) => {
  const manifest = setup(t);
  const name = Buffer.from([0x66, 0xff, 0x2e, 0x74]).toString("latin1") as RelPath; // "f\xff.t"
  const fleet = new FakeFleet(manifest, new OneProblem(name));
  const plan = await planManifest(manifest, fleet);
  const doc = toApplyJson(plan, await applyPlan(manifest, fleet, plan));
  assert.equal(checkApplyJson(doc), undefined);
  assert.equal(doc.tool, `tsync ${JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version}`);
  const [target] = (doc.result as { targets: { status: string; problems: { path: string; pathBase64?: string }[] }[] }).targets;
  assert.equal(target?.status, "partial");
  assert.equal(Buffer.from(target!.problems[0]!.pathBase64!, "base64").toString("latin1"), name);
  assert.equal(checkApplyJson({ ...doc, result: { ok: true, targets: [{ ...target, status: "fine" }] } }), "/result/targets/0/status must be equal to one of the allowed values");
});

test("the version has one source: package.json, read in reconciler/model/version.ts", () => {
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? files(join(dir, f)) : f.endsWith(".ts") ? [join(dir, f)] : []));
  const literal = /["'`]tsync \d+\.\d+|["'`][./]*package\.json["'`]/;
  const offenders = [...files(join(REPO, "reconciler")), ...files(join(REPO, "cli"))]
    // package-files.ts finds the package root by its package.json; it reads no version.
    .filter((f) => !f.endsWith("reconciler/model/version.ts") && !f.endsWith("reconciler/model/package-files.ts") && literal.test(readFileSync(f, "utf8")))
    .map((f) => f.slice(REPO.length));
  assert.deepEqual(offenders, []);
  assert.equal(toPlanJson({ manifestFile: "m", manifestDigest: "d", createdAt: "2026-01-01T00:00:00Z", deep: false, targets: [], summary: { add: 0, change: 0, delete: 0, targets: 0, drifted: 0, unreachable: 0, refused: 0, problems: 0, nginxChanged: false } }).tool,
    `tsync ${JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version}`);
});

// apply's human view: a line per target counted as the plan counted it, errors escaped with their
// hint, the nginx step, and the verdict.
import { test } from "node:test";
import assert from "node:assert/strict";
import { renderApplyHuman } from "../../reconciler/views/apply-human.js";
import type { ApplyReport, TargetOutcome } from "../../reconciler/run/apply-run.js";
import type { TargetPlan } from "../../reconciler/model/plan.js";
import type { Change } from "../../reconciler/model/change.js";
import type { RelPath } from "../../reconciler/model/paths.js";

const T = 1_700_000_000_000;
const dir = { kind: "dir", mode: 0o755, mtimeMs: T } as const;
const create: Change = { kind: "create", path: "a" as RelPath, after: { kind: "file", size: 3, mode: 0o644, mtimeMs: T } };
// A touch that only restores the root's time: bookkeeping, not a change the user is shown.
const restore: Change = { kind: "touch", path: "" as RelPath, before: dir, after: dir };
const tp = (host: string, changes: Change[]): TargetPlan => ({ sync: "site", target: { host, path: "/srv" }, state: "drifted", changes, problems: [] });
const o = (plan: TargetPlan, rest: Partial<TargetOutcome>): TargetOutcome => ({ plan, status: "applied", applied: 0, bytes: 0, problems: [], ...rest });

test("applied counts what the plan showed; a failure is escaped and keeps its hint; nginx and the verdict follow", () => {
  const report: ApplyReport = {
    targets: [
      o(tp("www-01", [create, restore]), { applied: 2, bytes: 2048 }),
      o(tp("www-02", []), { status: "unreachable", error: "www-02: host key changed \x1b]0;pwned\x07", hint: "ssh-keygen -R www-02" }),
    ],
    nginx: { status: "failed", error: "nginx -t: \u202eevil" },
    ok: false,
  };
  assert.equal(
    renderApplyHuman(report, { color: false, nginxPath: "/etc/nginx/conf.d/site.conf" }),
    [
      "site: www-01:/srv applied 1 change(s), 2.0 KiB sent",
      "site: www-02:/srv unreachable: www-02: host key changed \\u{1b}]0;pwned\\u{7}",
      "  hint: ssh-keygen -R www-02",
      "nginx /etc/nginx/conf.d/site.conf failed: nginx -t: \\u{202e}evil",
      "Apply finished with errors (see above).",
      "",
    ].join("\n"),
  );
});

test("an in-sync run says so and completes", () => {
  const report: ApplyReport = { targets: [o(tp("www-01", []), { status: "in-sync" })], nginx: { status: "unchanged" }, ok: true };
  assert.equal(renderApplyHuman(report, { color: false, nginxPath: "/n.conf" }), "site: www-01:/srv in sync\nnginx /n.conf unchanged\nApply complete.\n");
});

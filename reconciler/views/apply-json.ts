// ApplyReport → the versioned wire document of schemas/apply.schema.json (`tsync apply --json`). Paths
// are bytes as in the plan: a problem path that is not valid UTF-8 carries its exact bytes in base64.
import type { Plan } from "../model/plan.js";
import { formatLocation } from "../model/manifest.js";
import { TOOL } from "../model/version.js";
import type { ApplyReport } from "../run/apply-run.js";
import { encodeBytes, FORMAT_VERSION, schemaChecker, toPlanJson } from "./plan-json.js";

export function toApplyJson(plan: Plan, report: ApplyReport): Record<string, unknown> {
  return {
    formatVersion: FORMAT_VERSION,
    tool: TOOL,
    plan: toPlanJson(plan),
    result: {
      ok: report.ok,
      targets: report.targets.map((o) => ({
        sync: o.plan.sync,
        location: formatLocation(o.plan.target),
        status: o.status,
        applied: o.applied,
        bytes: o.bytes,
        ...(o.error ? { error: o.error } : {}),
        ...(o.hint !== undefined ? { hint: o.hint } : {}),
        problems: o.problems.map((p) => ({ ...encodeBytes(p.path, "path", "pathBase64"), action: p.kind, code: p.code, message: p.message })),
        ...(o.hooks ? { hooks: o.hooks } : {}),
      })),
      ...(report.nginx ? { nginx: { status: report.nginx.status, ...(report.nginx.error ? { error: report.nginx.error } : {}) } } : {}),
    },
  };
}

/** Schema-checks an apply document (tests): undefined or the first problem. */
export const checkApplyJson = schemaChecker("apply.schema.json", ["plan.schema.json"]);

// ApplyReport → the versioned wire document of schemas/apply.schema.json (`tsync apply --json`). Paths
// are bytes as in the plan: a problem path that is not valid UTF-8 carries its exact bytes in base64.
import { readFileSync } from "node:fs";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import type { Plan } from "../model/plan.js";
import { formatLocation } from "../model/manifest.js";
import { TOOL } from "../model/version.js";
import type { ApplyReport } from "../run/apply-run.js";
import { encodeBytes, FORMAT_VERSION, toPlanJson } from "./plan-json.js";

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
      })),
      ...(report.nginx ? { nginx: { status: report.nginx.status, ...(report.nginx.error ? { error: report.nginx.error } : {}) } } : {}),
    },
  };
}

let validator: ((doc: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

/** Schema-checks an apply document (tests): undefined or the first problem. */
export function checkApplyJson(doc: unknown): string | undefined {
  if (!validator) {
    const read = (name: string) => JSON.parse(readFileSync(new URL(`../../../schemas/${name}`, import.meta.url), "utf8"));
    const ajv = new Ajv2020({ allErrors: false, strict: false });
    (addFormats as unknown as { default: (a: Ajv2020) => void }).default(ajv);
    ajv.addSchema(read("plan.schema.json"));
    validator = ajv.compile(read("apply.schema.json")) as typeof validator;
  }
  if (validator(doc)) return undefined;
  const e = validator.errors?.[0];
  return e ? `${e.instancePath || "(document)"} ${e.message ?? "is invalid"}` : "is invalid";
}

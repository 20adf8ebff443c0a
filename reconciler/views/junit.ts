// JUnit XML for CI systems: one <testsuite> per sync, one <testcase> per sync × target, so a CI's
// test view lists each target and turns red exactly where there is drift. nginx is its own suite.
//   drifted → <failure type="drift">, refused (maxDelete) → <failure type="refused">,
//   unreachable → <error type="unreachable">, problems (paths apply cannot fix) → <error type="problems">,
//   or <system-err> when the case already has its one result element.
import type { Plan, TargetPlan, NginxPlan } from "../model/plan.js";
import { formatLocation } from "../model/manifest.js";
import { displayPath } from "../model/paths.js";
import { changeLines, countChanges, formatCounts } from "./change-line.js";
import { xmlAttr, xmlText } from "./escape.js";

export interface JunitOptions {
  /** Change lines per testcase before "... and N more". */
  readonly maxLines?: number;
}

interface Case {
  readonly xml: string;
  readonly failure: boolean;
  readonly error: boolean;
}

function attrs(a: Record<string, string | number>): string {
  return Object.entries(a).map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`).join("");
}

function element(name: string, a: Record<string, string | number>, body: string): string {
  return `<${name}${attrs(a)}>${xmlText(body)}</${name}>`;
}

function targetCase(t: TargetPlan, maxLines: number): Case {
  const open = `    <testcase${attrs({ classname: t.sync, name: formatLocation(t.target), time: 0 })}>`;
  const inner: string[] = [];
  let failure = false, error = false;
  const counts = formatCounts(countChanges(t.changes));
  const lines = changeLines(t.changes, maxLines).join("\n");
  if (t.state === "unreachable") {
    error = true;
    const why = t.error ?? "unreachable";
    inner.push("      " + element("error", { type: "unreachable", message: why }, why));
  } else if (t.refused !== undefined) {
    failure = true;
    inner.push("      " + element("failure", { type: "refused", message: `refused: ${t.refused} (${counts})` }, lines));
  } else if (t.state === "drifted") {
    failure = true;
    inner.push("      " + element("failure", { type: "drift", message: counts }, lines));
  } else if (t.error !== undefined) {
    error = true;
    inner.push("      " + element("error", { type: "error", message: t.error }, t.error));
  }
  if (t.problems.length > 0) {
    const text = t.problems.map((p) => `unreadable on ${p.side}: ${p.path === "" ? "." : displayPath(p.path)}: ${p.error}`).join("\n");
    if (inner.length > 0) inner.push("      " + element("system-err", {}, text));
    else {
      error = true;
      const n = t.problems.length;
      inner.push("      " + element("error", { type: "problems", message: `${n} path${n === 1 ? "" : "s"} apply cannot fix` }, text));
    }
  }
  const xml = inner.length === 0 ? open.replace(/>$/, "/>") : [open, ...inner, "    </testcase>"].join("\n");
  return { xml, failure, error };
}

function nginxCase(n: NginxPlan): Case {
  const where = n.host === undefined ? n.path : `${n.host}:${n.path}`;
  const open = `    <testcase${attrs({ classname: "nginx", name: where, time: 0 })}>`;
  if (n.error !== undefined) {
    return { xml: `${open}\n      ${element("error", { type: "nginx", message: n.error }, n.error)}\n    </testcase>`, failure: false, error: true };
  }
  if (n.changed) {
    const message = n.before === undefined ? "nginx config would be created" : "nginx config changes";
    return { xml: `${open}\n      ${element("failure", { type: "drift", message }, n.diff)}\n    </testcase>`, failure: true, error: false };
  }
  return { xml: open.replace(/>$/, "/>"), failure: false, error: false };
}

function suite(name: string, cases: readonly Case[], timestamp: string): string {
  const head = `  <testsuite${attrs({
    name,
    tests: cases.length,
    failures: cases.filter((c) => c.failure).length,
    errors: cases.filter((c) => c.error).length,
    skipped: 0,
    time: 0,
    timestamp,
  })}>`;
  return [head, ...cases.map((c) => c.xml), "  </testsuite>"].join("\n");
}

export function renderJunit(plan: Plan, opts: JunitOptions = {}): string {
  const maxLines = opts.maxLines ?? 1000;
  // JUnit timestamps are xs:dateTime without a zone by convention; createdAt is UTC.
  const timestamp = plan.createdAt.replace(/\.\d+Z$|Z$/, "");
  const bySync = new Map<string, Case[]>();
  for (const t of plan.targets) {
    const list = bySync.get(t.sync) ?? [];
    list.push(targetCase(t, maxLines));
    bySync.set(t.sync, list);
  }
  const suites = [...bySync].map(([name, cases]) => ({ name, cases }));
  if (plan.nginx !== undefined) suites.push({ name: "nginx", cases: [nginxCase(plan.nginx)] });
  const all = suites.flatMap((s) => s.cases);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites${attrs({
      name: "tsync plan",
      tests: all.length,
      failures: all.filter((c) => c.failure).length,
      errors: all.filter((c) => c.error).length,
      time: 0,
    })}>`,
    ...suites.map((s) => suite(s.name, s.cases, timestamp)),
    `</testsuites>`,
    ``,
  ].join("\n");
}

// tsync completion bash|zsh|fish (issue 19): each script is loaded into its real shell and asked for
// completions. What it must offer is read from `tsync … --help` (commander prints help from the same
// definitions), so a command or option added later is checked without touching this test.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { CLI, runTsync } from "../support/cli.js";

const dir = mkdtempSync(join(tmpdir(), "tsync-completion-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const scripts: Record<string, string> = {};
// The shells run in an empty directory: a command taking a file (apply [planfile]) then offers none.
const empty = mkdtempSync(join(tmpdir(), "tsync-completion-cwd-"));
after(() => rmSync(empty, { recursive: true, force: true }));

/** A command path with the options and subcommands its --help lists. */
interface Node {
  readonly path: readonly string[];
  readonly options: readonly string[];
  readonly subcommands: readonly string[];
  /** What the first positional argument offers: its choices, when help lists them. */
  readonly argChoices: readonly string[];
}

/** The section `title:` of a help text: its entries' first column. */
function section(help: string, title: string): string[] {
  const m = new RegExp(`^${title}:\\n((?:  .*\\n?|\\s{10,}.*\\n?)*)`, "m").exec(help);
  return m ? m[1]!.split("\n").filter((l) => /^ {2}\S/.test(l)).map((l) => l.trim().split(/\s{2,}/)[0]!) : [];
}

function helpTree(path: string[] = []): Node[] {
  const help = execFileSync(process.execPath, [CLI, ...path, "--help"], { encoding: "utf8", env: { ...process.env, COLUMNS: "200" } });
  const options = section(help, "Options").flatMap((e) => e.split(/[ ,]+/).filter((w) => /^--?[A-Za-z]/.test(w)));
  const subcommands = section(help, "Commands").map((e) => e.split(" ")[0]!);
  const choices = /^Arguments:\n.*\(choices: ([^)]*)\)/m.exec(help)?.[1];
  const argChoices = choices ? [...choices.matchAll(/"([^"]*)"/g)].map((m) => m[1]!) : [];
  return [{ path, options, subcommands, argChoices }, ...subcommands.filter((c) => c !== "help").flatMap((c) => helpTree([...path, c]))];
}

let tree: Node[];
before(async () => {
  tree = helpTree();
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = await runTsync(["completion", shell]);
    assert.equal(r.code, 0, r.stderr);
    scripts[shell] = join(dir, `tsync.${shell}`);
    writeFileSync(scripts[shell]!, r.stdout);
  }
});

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();

test("help lists what the completions are checked against (the reference is not empty)", () => {
  const root = tree.find((n) => n.path.length === 0)!;
  for (const c of ["init", "validate", "plan", "apply", "watch", "status", "import", "nginx", "completion", "help"]) assert.ok(root.subcommands.includes(c), c);
  assert.ok(tree.some((n) => n.path.join(" ") === "import lsyncd"));
  assert.deepEqual(tree.find((n) => n.path.join(" ") === "completion")!.argChoices, ["bash", "zsh", "fish"]);
  const plan = tree.find((n) => n.path.join(" ") === "plan")!;
  for (const f of ["-f", "--manifest", "--format", "--detailed-exitcode", "--no-color", "-h", "--help"]) assert.ok(plan.options.includes(f), f);
});

test("bash: every command path completes exactly its subcommands and its options; values complete by kind", () => {
  const calls = tree.flatMap((n) => [[...n.path, ""], [...n.path, "-"]]);
  const extra: [string[], string[]][] = [
    [["plan", "--format", ""], ["human", "json", "junit", "markdown"]],
    [["completion", ""], ["bash", "fish", "zsh"]],
    [["plan", "--sync", "site", "--de"], ["--deep", "--detailed-exitcode"]],
    [["apply", join(dir, "tsync.ba")], [scripts.bash!]],
    [["plan", "-f", join(dir, "tsync.zs")], [scripts.zsh!]],
    [["plan", "--target", ""], []],
    [["help", "pl"], ["plan"]],
  ];
  const words = [...calls, ...extra.map((e) => e[0])];
  const program = [
    `source ${scripts.bash}`,
    't() { COMP_WORDS=(tsync "$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _tsync; printf "%s\\n" "${COMPREPLY[*]}"; }',
    ...words.map((w) => `t ${w.map((x) => `'${x}'`).join(" ")}`),
  ].join("\n");
  const out = execFileSync("bash", ["--norc", "--noprofile", "-c", program], { encoding: "utf8", cwd: empty }).split("\n");
  tree.forEach((n, i) => {
    const where = `tsync ${n.path.join(" ")}`;
    assert.deepEqual(sorted(out[2 * i]!.split(" ").filter(Boolean)), sorted([...n.subcommands, ...n.argChoices]), `${where} <TAB>`);
    assert.deepEqual(sorted(out[2 * i + 1]!.split(" ").filter(Boolean)), sorted(n.options), `${where} -<TAB>`);
  });
  extra.forEach(([w, want], j) => assert.deepEqual(sorted(out[calls.length + j]!.split(" ").filter(Boolean)), sorted(want), `tsync ${w.join(" ")}<TAB>`));
});

test("fish: every command path completes exactly its subcommands and its options, with descriptions", () => {
  const lines = tree.flatMap((n) => [`${["tsync", ...n.path].join(" ")} `, `${["tsync", ...n.path].join(" ")} -`]);
  const extra: [string, string[]][] = [
    ["tsync plan --format ", ["human", "json", "junit", "markdown"]],
    ["tsync plan --sync site --de", ["--deep", "--detailed-exitcode"]],
    [`tsync apply ${join(dir, "tsync.fi")}`, [scripts.fish!]],
    ["tsync completion ", ["bash", "fish", "zsh"]],
  ];
  const program = [`source ${scripts.fish}`, ...[...lines, ...extra.map((e) => e[0])].map((l) => `complete -C '${l}'; echo '@@'`)].join("\n");
  const out = execFileSync("fish", ["--no-config", "-c", program], { encoding: "utf8", cwd: empty }).split("@@\n");
  const firsts = (chunk: string) => sorted(chunk.split("\n").filter(Boolean).map((l) => l.split("\t")[0]!));
  tree.forEach((n, i) => {
    const where = `tsync ${n.path.join(" ")}`;
    assert.deepEqual(firsts(out[2 * i]!), sorted([...n.subcommands, ...n.argChoices]), `${where} <TAB>`);
    assert.deepEqual(firsts(out[2 * i + 1]!), sorted(n.options), `${where} -<TAB>`);
  });
  extra.forEach(([l, want], j) => assert.deepEqual(firsts(out[lines.length + j]!), sorted(want), `${l}<TAB>`));
  assert.match(out[0]!, /^plan\tshow exactly what apply would change on every target; changes nothing$/m);
});

/** What zsh offers for `input`<TAB>, through a real interactive zsh on a pty (zsh/zpty) with compadd recorded. */
function zshComplete(input: string): string[] {
  const log = join(dir, `zsh-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, "");
  const driver = [
    "zmodload zsh/zpty",
    "zpty z zsh -f -i",
    `zpty -w z "PS1='>'; autoload -Uz compinit; compinit -u -D; source ${scripts.zsh}"`,
    `zpty -w z 'compadd() { local -a h; builtin compadd -O h "$@"; print -rl -- "\${(@)h}" >> ${log}; builtin compadd "$@"; }'`,
    // Markers computed by the inner shell, so the echo of the typed line cannot match them.
    `zpty -w z 'print -r -- "R1$((6*7))"'`,
    "acc=''; while zpty -r -t z chunk 2>/dev/null || sleep 0.1; do acc+=$chunk; [[ $acc == *R142* ]] && break; done",
    `zpty -wn z ${JSON.stringify(input)}$'\\t'`,
    `zpty -w z $'\\C-uprint -r -- "R2$((6*7))"'`,
    "acc=''; while zpty -r -t z chunk 2>/dev/null || sleep 0.1; do acc+=$chunk; [[ $acc == *R242* ]] && break; done",
    "zpty -d z",
  ].join("\n");
  execFileSync("zsh", ["-f", "-c", driver], { timeout: 60_000, cwd: empty });
  return sorted(readFileSync(log, "utf8").split("\n").filter(Boolean));
}

test("zsh: the script loads in a real zsh and completes commands, options and choices", () => {
  const root = tree.find((n) => n.path.length === 0)!;
  assert.deepEqual(zshComplete("tsync "), sorted(root.subcommands));
  assert.deepEqual(zshComplete("tsync import "), ["help", "lsyncd"]);
  assert.deepEqual(zshComplete("tsync plan --form"), ["--format"]);
  assert.deepEqual(zshComplete("tsync plan --format "), ["human", "json", "junit", "markdown"]);
  assert.deepEqual(zshComplete("tsync completion "), ["bash", "fish", "zsh"]);
  // Every option of every command is in its _arguments specs.
  const text = readFileSync(scripts.zsh!, "utf8");
  for (const n of tree) {
    const fn = n.path.length === 0 ? "_tsync" : `_tsync__${n.path.join("_")}`;
    const body = new RegExp(`^${fn}\\(\\) \\{\\n([\\s\\S]*?)^\\}`, "m").exec(text)?.[1];
    assert.ok(body, `${fn} defined`);
    for (const f of n.options) assert.match(body, new RegExp(`'[^']*\\)?\\*?${f}[=+]?\\[`), `${fn}: ${f}`);
  }
});

test("tsync completion refuses an unknown shell", async () => {
  const r = await runTsync(["completion", "tcsh"]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /'tcsh' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish\./);
});

// The command line: parse, call the reconciler, render, exit with SPEC §2's codes. It runs as
// dist/tsync-main.cjs, started by cli/launch.ts (dist/tsync.js), whose first line sets
// MALLOC_MMAP_THRESHOLD_; the variable is dropped below so that hooks and other children get the
// caller's environment.
import { setFlagsFromString } from "node:v8";
import { Argument, Command, Option } from "commander";
import { Exit, EXIT, err, type GlobalOptions } from "./output.js";
import { TsyncError, errorMessage } from "../reconciler/model/errors.js";
import { VERSION } from "../reconciler/model/version.js";
import type { PlanCommandOptions } from "./commands/plan.js";
import type { ApplyCommandOptions } from "./commands/apply.js";
import type { StatusCommandOptions } from "./commands/status.js";
import type { ImportCommandOptions } from "./commands/import.js";
import type { InitCommandOptions } from "./commands/init.js";
import type { WaitCommandOptions } from "./commands/control.js";
delete process.env["MALLOC_MMAP_THRESHOLD_"];
// Commands are loaded when run: `tsync validate` need not load ssh2, chokidar or a Lua VM.


const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Options every command accepts, so they can come before or after the command name. */
function common(cmd: Command): Command {
  return cmd
    .option("-f, --manifest <file>", "the manifest (default: ./tsync.yaml)")
    .option("--sync <name>", "only this sync (repeatable)", collect)
    .option("--target <host>", "only targets on this host; 'local' for local paths (repeatable)", collect)
    .option("--json", "machine-readable output on stdout, nothing else there")
    .option("--no-color", "no ANSI colours (also: NO_COLOR)")
    .option("-q, --quiet", "print less")
    .option("-v, --verbose", "print more (per-file detail, stack traces of internal errors)");
}

function run<A extends unknown[]>(fn: (...args: A) => unknown) {
  return async (...args: A) => {
    await fn(...args);
  };
}

/**
 * run() for a one-shot plan or apply. Such a process spends ~0.1 s of CPU optimizing its listing
 * parsers and builders while they run, and TurboFan's inlining makes each of those compiles
 * several times larger (a builder's add() was compiled 4 times, ~120 ms); without it a small-20k
 * plan takes ~90 ms less CPU (bench/ANALYSIS.md). Set at run time, not on the command line, where
 * any V8 flag costs ~40 ms of start-up (cli/launch.ts), and after the bundle was compiled from its
 * code cache, which V8 refuses under other flags. `watch` keeps the default: a daemon runs its code warm.
 */
function runOneShot<A extends unknown[]>(fn: (...args: A) => unknown) {
  return run(async (...args: A) => {
    setFlagsFromString("--no-turbo-inlining");
    await fn(...args);
  });
}

const program = new Command("tsync")
  .description("Replicate a web root to web nodes over SSH, declared in one manifest: plan, apply, watch, and the nginx upstreams derived from the same roles.")
  .version(VERSION)
  .showHelpAfterError("(run with --help for usage)")
  .configureHelp({ sortSubcommands: false });

program.command("init")
  .description("write a commented starter tsync.yaml (asks nothing; never overwrites a file)")
  .option("-f, --manifest <file>", "where to write it (default: ./tsync.yaml)")
  .option("--source <path>", "the tree to replicate: a local path, or HOST:/path")
  .option("--target <[user@]host:/path>", "a target: HOST:/path over SSH, or a local path (repeatable)", collect)
  .option("--from-lsyncd <file.lua>", "the manifest `tsync import lsyncd` makes of this lsyncd config instead")
  .option("--stdout", "print it instead of writing a file")
  .option("-q, --quiet", "print less")
  .addHelpText("after", "\nExamples:\n  tsync init --source /var/www/site --target www-01:/var/www/site --target deploy@10.0.1.22:/var/www/site\n  tsync init -f /etc/tsync/tsync.yaml --from-lsyncd /etc/lsyncd/lsyncd.conf.lua")
  .action(run(async (opts: InitCommandOptions) => (await import("./commands/init.js")).initCommand(opts)));

common(program.command("validate"))
  .description("check the manifest; print nothing but errors (exit 0 valid, 1 invalid)")
  .addHelpText("after", "\nExample:\n  tsync validate -f fixtures/seed/tsync.yaml")
  .action(run(async (opts: GlobalOptions) => (await import("./commands/validate.js")).validateCommand(opts)));

common(program.command("plan"))
  .description("show exactly what apply would change on every target; changes nothing")
  .option("--deep", "compare content hashes of every file (default: metadata first, hashes where it cannot decide)")
  .option("--diff", "add unified diffs of changed text files (≤ 1 MiB)")
  .option("--out <file>", "save the plan; `tsync apply FILE` applies exactly it")
  .option("--detailed-exitcode", "exit 0 no changes, 2 changes (drift), 1 error")
  .option("--plan-key-file <file>", "sign the saved plan (--out, --json) with this key (also: TSYNC_PLAN_KEY)")
  .addOption(new Option("--format <format>", "output format").choices(["human", "json", "junit", "markdown"]).default("human"))
  .addHelpText("after", "\nExamples:\n  tsync plan\n  tsync plan --detailed-exitcode --json > plan.json   # the CI drift check\n  tsync plan --out site.plan && tsync apply site.plan")
  .action(runOneShot(async (opts: PlanCommandOptions) => (await import("./commands/plan.js")).planCommand(opts)));

common(program.command("apply"))
  .argument("[planfile]", "a plan saved with `plan --out`: apply exactly it, refusing targets that moved")
  .description("converge every target (or exactly a saved plan), then render and deploy nginx")
  .option("-y, --yes", "do not ask for confirmation (required when stdin is not a terminal)")
  .option("--allow-mass-delete", "lift the maxDelete safety limit")
  .option("--plan-key-file <file>", "require the saved plan to be signed with this key (also: TSYNC_PLAN_KEY)")
  .addHelpText("after", "\nExamples:\n  tsync apply\n  tsync apply --yes --sync site --target www-02")
  .action(runOneShot(async (planfile: string | undefined, opts: ApplyCommandOptions) => (await import("./commands/apply.js")).applyCommand(planfile, opts)));

common(program.command("watch"))
  .description("the daemon: initial apply, then live sync from inotify events plus scheduled audits (SIGHUP reloads)")
  .addHelpText("after", "\nExample:\n  tsync watch -f /etc/tsync/tsync.yaml     # see deploy/tsync-watch.service")
  .action(run(async (opts: GlobalOptions) => (await import("./commands/watch.js")).watchCommand(opts)));

common(program.command("status"))
  .description("show the state a running `tsync watch` keeps in settings.statusFile (exit 1 unless all in sync)")
  .option("--file <statusfile>", "read this status file instead of the manifest's settings.statusFile")
  .addHelpText("after", "\nExamples:\n  tsync status\n  tsync status --json --file /tmp/tsync.status")
  .action(run(async (opts: StatusCommandOptions) => (await import("./commands/status.js")).statusCommand(opts)));

common(program.command("wait"))
  .description("block until every change made on the source before now is on every (selected) target of the running `tsync watch`")
  .option("--timeout <duration>", "give up after this long, naming the targets still behind (exit 1)", "5m")
  .addHelpText("after", "\nExamples:\n  tsync wait --timeout 2m && switch-traffic   # in a deploy script, after writing to the source\n  tsync wait --sync site --target www-02")
  .action(run(async (opts: WaitCommandOptions) => (await import("./commands/control.js")).waitCommand(opts)));

common(program.command("pause"))
  .argument("<host|path>", "a host name (all its targets), HOST:/path, or a local target's path")
  .description("the running `tsync watch` sends nothing more to these targets until resumed (kept across restarts)")
  .addHelpText("after", "\nExample:\n  tsync pause www-02   # maintenance; `tsync resume www-02` catches it up with one plan")
  .action(run(async (what: string, opts: GlobalOptions) => (await import("./commands/control.js")).pauseCommand(what, opts)));

common(program.command("resume"))
  .argument("[host|path]", "as given to pause; absent: everything paused")
  .description("undo `tsync pause`: one full plan catches the targets up")
  .addHelpText("after", "\nExample:\n  tsync resume www-02")
  .action(run(async (what: string | undefined, opts: GlobalOptions) => (await import("./commands/control.js")).resumeCommand(what, opts)));

const importCmd = program.command("import").description("turn another tool's configuration into a tsync manifest");
common(importCmd.command("lsyncd"))
  .argument("<file.lua>", "the lsyncd configuration (evaluated in a sandbox: no I/O, bounded time and memory)")
  .description("translate an lsyncd configuration into tsync.yaml (stdout, or -o FILE)")
  .option("-o, --output <file>", "write the manifest here instead of stdout")
  .option("--force", "overwrite the -o file when it exists")
  .option("--strict", "exit 1 when anything could not be translated exactly (warnings)")
  .option("--name <address=name>", "name the host at ADDRESS (repeatable); default node-1, node-2, ...", collect)
  .option("--base <dir>", "lsyncd's working directory: relative sources and targets resolve against it, and the config may read files below it (readdir, dofile, require, io.open); default: the config's directory")
  .option("--env <name=value>", "what os.getenv(NAME) returns to the config, e.g. the value its container sets (repeatable); default: tsync's own environment", collect)
  .addHelpText("after", "\nExample:\n  tsync import lsyncd /etc/lsyncd/lsyncd.conf.lua -o tsync.yaml && tsync plan")
  .action(run(async (file: string, opts: ImportCommandOptions) => (await import("./commands/import.js")).importLsyncdCommand(file, opts)));

common(program.command("nginx"))
  .description("print the nginx config rendered from the manifest's roles")
  .addHelpText("after", "\nExample:\n  tsync nginx -f fixtures/seed/tsync.yaml")
  .action(run(async (opts: GlobalOptions) => (await import("./commands/nginx.js")).nginxCommand(opts)));

program.command("completion")
  .description("print a shell completion script, generated from these command definitions")
  .addArgument(new Argument("<shell>", "the shell it is for").choices(["bash", "zsh", "fish"]))
  .addHelpText("after", "\nInstall (see the README):\n  tsync completion bash | sudo tee /usr/share/bash-completion/completions/tsync >/dev/null\n  tsync completion zsh > \"${fpath[1]}/_tsync\"\n  tsync completion fish > ~/.config/fish/completions/tsync.fish")
  .action(run(async (shell: "bash" | "zsh" | "fish") => process.stdout.write((await import("./completion.js")).completionScript(program, shell, VERSION))));

async function main(): Promise<number> {
  try {
    await program.parseAsync(process.argv);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof Exit) return e.code;
    if (e instanceof TsyncError) {
      err(`tsync: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ""}`);
      return EXIT.error;
    }
    const verbose = process.argv.includes("-v") || process.argv.includes("--verbose");
    err(`tsync: internal error: ${errorMessage(e)}${verbose && e instanceof Error ? "\n" + e.stack : " (run with -v for details; please report it)"}`);
    return EXIT.error;
  }
}

// Not a top-level await: the bundle is CommonJS (tools/bundle.ts).
void main().then((code) => {
  process.exitCode = code;
});

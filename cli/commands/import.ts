// tsync import lsyncd FILE.lua: an lsyncd configuration (a Lua program, run sandboxed) → tsync.yaml.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { importLsyncd } from "../../reconciler/import/lsyncd.js";
import { errorMessage } from "../../reconciler/model/errors.js";
import { out, err, Exit, EXIT, type GlobalOptions } from "../output.js";

export interface ImportCommandOptions extends GlobalOptions {
  output?: string;
  strict?: boolean;
  force?: boolean;
  name?: string[];
  base?: string;
  env?: string[];
}

/** --env NAME=VALUE: what os.getenv(NAME) gives the config, over the environment tsync runs in. */
function parseEnv(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0) {
      err(`--env ${p}: expected NAME=VALUE, e.g. --env SYNC_HOST=www-02`);
      throw new Exit(EXIT.error);
    }
    env[p.slice(0, i)] = p.slice(i + 1);
  }
  return env;
}

function parseNames(pairs: readonly string[]): Record<string, string> {
  const names: Record<string, string> = {};
  for (const p of pairs) {
    const i = p.indexOf("=");
    if (i <= 0 || i === p.length - 1) {
      err(`--name ${p}: expected ADDRESS=NAME, e.g. --name 10.0.1.23=www-03`);
      throw new Exit(EXIT.error);
    }
    names[p.slice(0, i)] = p.slice(i + 1);
  }
  return names;
}

export async function importLsyncdCommand(file: string, opts: ImportCommandOptions): Promise<void> {
  let source: string;
  try {
    source = readFileSync(file, "utf8");
  } catch (e) {
    err(`${file}: cannot read: ${errorMessage(e)}`);
    throw new Exit(EXIT.error);
  }
  // lsyncd resolves relative paths against its working directory; the config's own directory is the
  // best guess without one (--base says otherwise).
  const base = resolve(opts.base ?? dirname(resolve(file)));
  // excludeFrom/filterFrom: read here, as lsyncd reads them at startup on the machine it runs on.
  const readFile = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (e) {
      return { error: (e as NodeJS.ErrnoException).code ?? errorMessage(e) };
    }
  };
  const r = await importLsyncd(source, file, { names: parseNames(opts.name ?? []), base, env: { ...process.env, ...parseEnv(opts.env ?? []) }, readFile });
  for (const w of r.warnings) err(`warning: ${w}`);
  for (const e of r.errors) err(`error: ${e}`);
  if (r.errors.length > 0 || !r.yaml) throw new Exit(EXIT.error);
  if (opts.output) {
    if (existsSync(opts.output) && !opts.force) {
      err(`${opts.output} exists; not overwritten (pass --force)`);
      throw new Exit(EXIT.error);
    }
    writeFileSync(opts.output, r.yaml);
    if (!opts.quiet) err(`Wrote ${opts.output}; check it with: tsync validate -f ${opts.output} && tsync plan -f ${opts.output}`);
  } else out(r.yaml);
  if (opts.strict && r.warnings.length > 0) {
    err(`--strict: ${r.warnings.length} warning(s) above`);
    throw new Exit(EXIT.error);
  }
}

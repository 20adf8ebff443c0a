// The optional key that signs saved plans (`plan --out`) and that `apply PLANFILE` then requires:
// --plan-key-file FILE (its bytes, less one trailing newline an editor adds), else TSYNC_PLAN_KEY.
import { readFileSync } from "node:fs";
import { errorMessage } from "../reconciler/model/errors.js";
import { err, Exit, EXIT } from "./output.js";

export interface PlanKeyOptions {
  planKeyFile?: string;
}

export function readPlanKey(opts: PlanKeyOptions): Buffer | undefined {
  const file = opts.planKeyFile;
  if (file === undefined) {
    const env = process.env.TSYNC_PLAN_KEY;
    return env === undefined || env === "" ? undefined : Buffer.from(env, "utf8");
  }
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    err(`${file}: cannot read the plan key: ${errorMessage(e)}`);
    throw new Exit(EXIT.error);
  }
  const end = bytes.length - (bytes.at(-1) === 0x0a ? (bytes.at(-2) === 0x0d ? 2 : 1) : 0);
  if (end === 0) {
    err(`${file}: the plan key file is empty`);
    throw new Exit(EXIT.error);
  }
  return bytes.subarray(0, end);
}

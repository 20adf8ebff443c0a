// Typed errors at I/O boundaries. cli/ maps them to exit codes and one-line messages in one place;
// anything else reaching the top is a bug and is reported as such.

export class TsyncError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A host could not be reached, refused us, or a remote command failed. Never carries secrets. */
export class TransportError extends TsyncError {
  constructor(
    readonly host: string,
    code: string,
    message: string,
    hint?: string,
  ) {
    super(code, `${host}: ${message}`, hint);
  }
}

/** A source file changed while it was being read for sending: the bytes read may be torn. */
export class SourceChangedError extends Error {
  override name = "SourceChangedError";
}

/** A host key that is unknown (under strict) or changed. */
export class HostKeyError extends TransportError {}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * An error the user can act on. The CLI prints it as one line (field, what is wrong, the fix)
 * with no stack trace and exits non-zero; anything else is a bug and keeps its stack.
 */
export class UserError extends Error {
  constructor(
    message: string,
    /** JSON path or config key the error is about, e.g. `resources[0].properties.routing`. */
    readonly field?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
    this.name = "UserError";
  }
}

/** One validation finding: which field, what is wrong, how to fix it. */
export interface Finding {
  field: string;
  message: string;
}

export function formatFinding(f: Finding): string {
  return `${f.field}: ${f.message}`;
}

/** Several findings at once, so the user fixes everything in one pass. */
export class ValidationError extends UserError {
  constructor(readonly findings: Finding[]) {
    super(findings.map(formatFinding).join("\n"));
    this.name = "ValidationError";
  }
}

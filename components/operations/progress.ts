/**
 * Engine log lines passed on to a person: a job's progress the service reports as 0% until it ends
 * says nothing the "job … started" line did not (issue 14: print real progress or none).
 */
const ZERO = / 0%(?: \(0\/[\d,]+\))?$/;

export function withoutZeroProgress(log: ((line: string) => void) | undefined): ((line: string) => void) | undefined {
  return log && ((line) => (ZERO.test(line) ? undefined : log(line)));
}

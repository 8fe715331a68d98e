// A structural check for RunReports that come back from disk (the spool), where anything may
// have happened to the file. It checks what the store needs to file a row, not every field.
import type { RunReport } from "../../engine/index.ts";

/** Returns the reason a value cannot be stored as a run, or undefined when it can. */
export function reportProblem(value: unknown): string | undefined {
  if (!isObject(value)) return "not a JSON object";
  if (typeof value.id !== "string" || value.id.length === 0) return "id is missing";
  if (typeof value.startedAt !== "string" || Number.isNaN(Date.parse(value.startedAt))) {
    return "startedAt is not an ISO 8601 time";
  }
  for (const key of ["workload", "phases", "counts", "plan", "options"] as const) {
    if (!isObject(value[key])) return `${key} is missing`;
  }
  if (value.errors !== undefined && !Array.isArray(value.errors)) return "errors is not a list";
  return undefined;
}

export function isRunReport(value: unknown): value is RunReport {
  return reportProblem(value) === undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

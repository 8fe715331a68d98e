// A small JSON Schema checker for the subset the diagnose schemas use (type, properties,
// required, additionalProperties: false, items, minItems, enum, const, pattern, minimum, oneOf).
// It exists so that explainer output (rules or LLM) can be checked without a dependency.

export interface JsonSchema {
  type?: JsonType | JsonType[];
  properties?: Record<string, JsonSchema>;
  required?: readonly string[];
  additionalProperties?: boolean;
  items?: JsonSchema;
  minItems?: number;
  enum?: readonly unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  oneOf?: readonly JsonSchema[];
  description?: string;
  title?: string;
  $schema?: string;
}

type JsonType = "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";

/** Every way `value` breaks `schema`, as "path: problem" lines; empty when it conforms. */
export function schemaProblems(schema: JsonSchema, value: unknown, path = "$"): string[] {
  const problems: string[] = [];
  if (schema.oneOf) {
    const matching = schema.oneOf.filter((s) => schemaProblems(s, value, path).length === 0).length;
    if (matching !== 1) {
      const detail = matching === 0 ? schema.oneOf.map((s) => schemaProblems(s, value, path)[0]).join(" | ") : `${matching} match`;
      problems.push(`${path}: must match exactly one schema of oneOf (${detail})`);
    }
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => isType(t, value))) {
      problems.push(`${path}: expected ${types.join(" or ")}, got ${describe(value)}`);
      return problems;
    }
  }
  if (schema.const !== undefined && value !== schema.const) problems.push(`${path}: must be ${JSON.stringify(schema.const)}`);
  if (schema.enum && !schema.enum.includes(value)) problems.push(`${path}: must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`);
  if (typeof value === "string" && schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
    problems.push(`${path}: ${JSON.stringify(value)} does not match /${schema.pattern}/`);
  }
  if (typeof value === "number" && schema.minimum !== undefined && value < schema.minimum) problems.push(`${path}: must be ≥ ${schema.minimum}`);
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) problems.push(`${path}: needs at least ${schema.minItems} items`);
    if (schema.items) value.forEach((v, i) => problems.push(...schemaProblems(schema.items!, v, `${path}[${i}]`)));
  }
  if (isType("object", value)) {
    const obj = value as Record<string, unknown>;
    for (const key of schema.required ?? []) if (!(key in obj)) problems.push(`${path}: missing required "${key}"`);
    for (const [key, v] of Object.entries(obj)) {
      const sub = schema.properties?.[key];
      if (sub) problems.push(...schemaProblems(sub, v, `${path}.${key}`));
      else if (schema.additionalProperties === false) problems.push(`${path}: unexpected property "${key}"`);
    }
  }
  return problems;
}

function isType(type: JsonType, value: unknown): boolean {
  switch (type) {
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
    case "array":
      return Array.isArray(value);
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return typeof value === "number" && Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "null":
      return value === null;
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return typeof value;
}

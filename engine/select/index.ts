// Selection: rsync's include/exclude/filter rules and --files-from, as one module. Parsed from
// the flags into canonical rule lines (rules.ts), compiled per walk (matcher.ts, pattern.ts).
export { compilePattern, patternMatches, PatternError } from "./pattern.ts";
export type { Pattern } from "./pattern.ts";
export { buildRules, onlyExcludes, parseCanonRules, readListFile, ruleLines, SelectError } from "./rules.ts";
export type { CanonRule, SelectFlag } from "./rules.ts";
export { Scope } from "./matcher.ts";
export type { ReadRulesFile } from "./matcher.ts";
export { ListedPaths, parseFilesFrom, readFilesFrom } from "./files-from.ts";

// The compiled selection rules of a walk. Rules are checked in order and the first that matches
// an entry decides (include or exclude); an entry no rule matches is included. An excluded
// directory is not entered, so nothing below it is seen, whatever later rules say: to include
// a deep file, its directories must be included too (rsync: --include='*/' --include='*.c'
// --exclude='*', or --include='/a/' --include='/a/b/' ...).
//
// A dir-merge rule (": NAME") stands, in its place in the list, for the rules of the file NAME
// in the directory being walked and in each directory above it up to the root: the nearest
// directory's rules first (they were read last, and rsync checks them first). The file is read
// through the walk's own directory handle (no symlink followed); see Scope.enter.
import { compilePattern, patternMatches, type Pattern } from "./pattern.ts";
import { parseCanonRules, perDirRules, SelectError } from "./rules.ts";

interface Rule {
  include: boolean;
  pattern: Pattern;
}

/** One place of the rule list: a rule, or the slot of a dir-merge file. */
type Item = { rule: Rule } | { slot: number; name: string };

/** Reads the per-directory rules file `name` of the directory being entered: its text, or undefined when it does not exist. */
export type ReadRulesFile = (name: string) => string | undefined;

/** The rules in force in one directory (and, by inheritance, below it). */
export class Scope {
  /** Every rule in order, dir-merge slots filled in. */
  private readonly flat: readonly Rule[];

  private constructor(
    private readonly items: readonly Item[],
    /** Per slot: the rules of this directory's file then its ancestors'. */
    private readonly slots: readonly (readonly Rule[])[],
  ) {
    this.flat = items.flatMap((it) => ("rule" in it ? [it.rule] : slots[it.slot]!));
  }

  /** The root's scope before its own per-directory files are read (Scope.enter reads them). */
  static top(lines: readonly string[]): Scope {
    const items: Item[] = [];
    let slots = 0;
    for (const r of parseCanonRules(lines)) {
      if (r.kind === ":") items.push({ slot: slots++, name: r.name });
      else items.push({ rule: { include: r.kind === "+", pattern: compilePattern(r.pattern) } });
    }
    return new Scope(items, Array.from({ length: slots }, () => []));
  }

  /** True when nothing is ever excluded (no rules). */
  get empty(): boolean {
    return this.items.length === 0;
  }

  /** True when the rules read per-directory files (so each directory needs its own scope). */
  get perDirectory(): boolean {
    return this.slots.length > 0;
  }

  /**
   * The scope of the directory `rel` ("" is the root) that this scope's directory contains (or
   * is, for the root): its per-directory files are read with `read` and put before the
   * inherited rules. Throws SelectError for a bad rule in one (naming the file and line).
   */
  enter(rel: string, read: ReadRulesFile): Scope {
    if (!this.perDirectory) return this;
    let changed = false;
    const slots = this.slots.map((inherited, i) => {
      const it = this.items.find((x) => "slot" in x && x.slot === i) as { slot: number; name: string };
      const text = read(it.name);
      if (text === undefined) return inherited;
      changed = true;
      const file = rel === "" ? it.name : `${rel}/${it.name}`;
      const own = perDirRules(text, file).map((r) => ({ include: r.kind === "+", pattern: compilePattern(r.pattern, rel) }));
      return [...own, ...inherited];
    });
    return changed ? new Scope(this.items, slots) : this;
  }

  /** True when the rules leave out the entry at `rel` (last name `name`). */
  excluded(rel: string, name: string, isDir: boolean): boolean {
    for (const r of this.flat) if (patternMatches(r.pattern, rel, name, isDir)) return !r.include;
    return false;
  }
}

export { SelectError };

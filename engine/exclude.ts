// --exclude GLOB, rsync-style: a pattern without "/" matches a name at any depth; a pattern with
// "/" matches the path from the root (a leading "/" anchors it there); a trailing "/" matches
// directories only. An excluded directory is not descended into, and mirror never deletes
// excluded destination entries.
export class Excluder {
  private byName: { glob: Bun.Glob; dirOnly: boolean }[] = [];
  private byPath: { glob: Bun.Glob; dirOnly: boolean }[] = [];

  constructor(patterns: readonly string[]) {
    for (const raw of patterns) {
      let p = raw;
      const dirOnly = p.endsWith("/");
      if (dirOnly) p = p.replace(/\/+$/, "");
      if (p === "") continue;
      if (p.includes("/")) {
        const anchored = p.startsWith("/");
        p = p.replace(/^\/+/, "");
        this.byPath.push({ glob: new Bun.Glob(anchored ? p : `{${p},**/${p}}`), dirOnly });
      } else {
        this.byName.push({ glob: new Bun.Glob(p), dirOnly });
      }
    }
  }

  get empty(): boolean {
    return this.byName.length === 0 && this.byPath.length === 0;
  }

  excluded(relPath: string, name: string, isDir: boolean): boolean {
    for (const r of this.byName) if ((isDir || !r.dirOnly) && r.glob.match(name)) return true;
    for (const r of this.byPath) if ((isDir || !r.dirOnly) && r.glob.match(relPath)) return true;
    return false;
  }
}

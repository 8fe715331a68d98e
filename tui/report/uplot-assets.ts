// uPlot's script and stylesheet, read from the installed package when a report is written and
// inlined into the page (so the file opens without a network); never copied into the repository.
// uPlot was chosen over Vega-Lite: ~50 KB minified with no dependencies, canvas-based and fast
// for 100k+ points, MIT, actively maintained; Vega-Lite needs vega and vega-lite (800 KB+) and
// a JSON-spec runtime the report does not need.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface UplotAssets {
  script: string;
  css: string;
}

let cached: UplotAssets | undefined;

/** The minified IIFE build (defines the global `uPlot`) and its CSS. */
export function uplotAssets(): UplotAssets {
  if (cached) return cached;
  const read = (file: string) => {
    let path = file;
    try {
      path = fileURLToPath(import.meta.resolve(`uplot/dist/${file}`));
      return readFileSync(path, "utf8");
    } catch (e) {
      throw new Error(`cannot read the chart library (${path}): ${(e as Error).message}; run 'npm install' in blit's directory`);
    }
  };
  cached = { script: read("uPlot.iife.min.js"), css: read("uPlot.min.css") };
  return cached;
}

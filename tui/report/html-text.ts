// Text put into the report's HTML: every string that comes from a run (paths, hosts, messages)
// goes through escapeHtml, and the embedded data through jsonForScript, so that a file named
// `<script>` is shown as text and never runs.

const ENTITIES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** `text` safe as element content and as a quoted attribute value. */
export function escapeHtml(text: string | number | boolean): string {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/**
 * `value` as JSON for a `<script type="application/json">` block: `<` is written as \u003c, so
 * neither `</script` nor `<!--` can appear and end (or confuse) the block; JSON.parse reads it back
 * unchanged. U+2028/2029 are escaped too, for readers that treat the text as JavaScript.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** Inlined library code: a `</script` or `</style` inside it would end the element early. */
export function inlineSafe(code: string, element: "script" | "style"): string {
  return code.replace(new RegExp(`</(${element})`, "gi"), "<\\/$1");
}

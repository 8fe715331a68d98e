// The HTML report of `blit report --html`: facts gathered from analytics (report-data.ts), turned
// into chart specs (chart-specs.ts) and one self-contained page (page.ts), written atomically.
export { historyReportData, runReportData } from "./report-data.ts";
export type { HistoryReportData, HistoryRequest, ReportData, RunReportData } from "./report-data.ts";
export { chartsOf } from "./chart-specs.ts";
export type { ChartSeries, ChartSpec, ChartUnit } from "./chart-specs.ts";
export { reportHtml } from "./page.ts";
export { escapeHtml, jsonForScript } from "./html-text.ts";
export { writeFileAtomic, ReportWriteError } from "./write-file.ts";

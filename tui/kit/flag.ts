// The command kit's flag rows and what is made from them: engine/flag-table.ts (shared with blitd).
export {
  editDistance, flagHelp, flagLabel, helpFlag, helpLines, labelList, markdownRows, nearestFlag, parseSpec, type Flag,
} from "../../engine/index.ts";

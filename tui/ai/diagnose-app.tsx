// `blit diagnose --ai`: the full-screen UI. One component owns the state (the list, the open
// run, the Explain panel) and the keys; the screens only draw. Everything slow runs in the
// background with a spinner, and Esc cancels it: a model call falls back to the offline rules,
// scoring leaves the list without predictions, opening a run goes back to the list.
import { useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { Box, Text, useApp, useInput, useWindowSize } from "ink";
import type { ExplainerAnswer, RunList } from "../../analytics/index.ts";
import type { AiSource, RunDetail } from "./ai-source.ts";
import { HelpScreen } from "./help-screen.tsx";
import { RunListScreen } from "./run-list-screen.tsx";
import { RunScreen } from "./run-screen.tsx";
import { claimsOf, filterRuns } from "./run-view.ts";
import { Spinner } from "./spinner.tsx";

export interface DiagnoseAppProps {
  source: AiSource;
  /** Ctrl-C: called before the app exits (the command then ends with 130, as for a copy). */
  onInterrupt?: () => void;
  /** Open straight at this run (an id or a unique prefix); Esc then shows the list. */
  initialRunId?: string;
}

interface Page {
  id: string;
  detail?: RunDetail;
  error?: string;
}

interface ExplainState {
  open: boolean;
  answer?: ExplainerAnswer;
  selected: number;
  showNumbers: boolean;
}

const CLOSED: ExplainState = { open: false, selected: 0, showNumbers: false };
/** Lines of the list screen that are not run rows (header, sparkline, column names, status, footer). */
const LIST_CHROME = 13;
/** ...and one more when the list has a fleet line (runs of two hosts or more in the last 7 days). */
const listChrome = (list: RunList | undefined): number => LIST_CHROME + (list?.fleet ? 1 : 0);
/**
 * Rows of the terminal the run page leaves alone: the app's title, store and key lines, and one
 * spare (a frame as tall as the terminal scrolls its first line, the title, out of sight).
 */
const APP_CHROME = 4;

export function DiagnoseApp({ source, initialRunId, onInterrupt }: DiagnoseAppProps) {
  const { exit } = useApp();
  const { columns, rows } = useWindowSize();
  const [list, setList] = useState<RunList>();
  const [listError, setListError] = useState<string>();
  const [scoring, setScoring] = useState(false);
  const [notice, setNotice] = useState<string>();
  const [cursor, setCursor] = useState(0);
  const [filter, setFilter] = useState("");
  const [filterMode, setFilterMode] = useState(false);
  const [help, setHelp] = useState(false);
  const [page, setPage] = useState<Page | undefined>(initialRunId ? { id: initialRunId } : undefined);
  const [explain, setExplain] = useState<ExplainState>(CLOSED);
  const mounted = useRef(true);
  const scoringSkipped = useRef(false);
  const pageToken = useRef(0);
  const explainAbort = useRef<AbortController | undefined>(undefined);
  const answers = useRef(new Map<string, ExplainerAnswer>());

  const shown = useMemo(() => filterRuns(list?.runs ?? [], filter), [list, filter]);

  useEffect(() => {
    mounted.current = true;
    source
      .recentRuns()
      .then((recent) => {
        if (!mounted.current) return;
        setList(recent);
        if (recent.runs.length === 0) return;
        setScoring(true);
        // Scoring can fail (a store busy for long); the list stays, without predictions.
        return source.scoreRuns(recent).then(
          (scored) => mounted.current && !scoringSkipped.current && setList(scored),
          (e: unknown) => mounted.current && setNotice(`no predictions or flags: ${message(e)}`),
        );
      })
      .catch((e: unknown) => mounted.current && setListError(message(e)))
      .finally(() => mounted.current && setScoring(false));
    if (initialRunId) openRun(initialRunId);
    return () => {
      mounted.current = false;
      explainAbort.current?.abort();
    };
  }, []);

  function openRun(id: string) {
    const token = ++pageToken.current;
    explainAbort.current?.abort();
    setExplain(CLOSED);
    setPage({ id });
    source.runDetail(id).then(
      (detail) => mounted.current && token === pageToken.current && setPage({ id, detail }),
      (e: unknown) => mounted.current && token === pageToken.current && setPage({ id, error: message(e) }),
    );
  }

  function back() {
    pageToken.current++;
    explainAbort.current?.abort();
    setExplain(CLOSED);
    setPage(undefined);
  }

  function startExplain(detail: RunDetail) {
    const known = answers.current.get(detail.diagnosis.run.id);
    if (known) return setExplain({ ...CLOSED, open: true, answer: known });
    const controller = new AbortController();
    explainAbort.current = controller;
    const token = pageToken.current;
    setExplain({ ...CLOSED, open: true });
    void source.explain(detail, controller.signal).then((answer) => {
      if (!mounted.current || token !== pageToken.current || explainAbort.current !== controller) return;
      // A cancelled call's fallback is shown but not kept: pressing e again asks again.
      if (!controller.signal.aborted) answers.current.set(detail.diagnosis.run.id, answer);
      setExplain((s) => (s.open ? { ...s, answer } : s));
    });
  }

  useInput((input, key) => {
    if (key.ctrl && input === "c") {
      explainAbort.current?.abort();
      onInterrupt?.();
      return exit();
    }
    if (help) return setHelp(false);
    if (filterMode) {
      if (key.return) setFilterMode(false);
      else if (key.escape) {
        setFilter("");
        setFilterMode(false);
      } else if (key.backspace || key.delete) setFilter((f) => f.slice(0, -1));
      else if (input && !key.ctrl && !key.meta) {
        setFilter((f) => f + input);
        setCursor(0);
      }
      return;
    }
    if (input === "q") {
      explainAbort.current?.abort();
      return exit();
    }
    if (input === "?") return setHelp(true);
    if (page) {
      if (key.escape) {
        if (explain.open && !explain.answer) return explainAbort.current?.abort();
        if (!page.detail && !page.error) setNotice(`stopped opening run ${page.id.slice(0, 8)}`);
        return back();
      }
      if (key.leftArrow || key.backspace) return back();
      if (!page.detail) return;
      if (input === "e") {
        if (explain.open) {
          explainAbort.current?.abort();
          return setExplain(CLOSED);
        }
        return startExplain(page.detail);
      }
      if (explain.open && explain.answer) {
        const n = claimsOf(explain.answer).length;
        if (key.downArrow || input === "j" || key.tab) setExplain((s) => ({ ...s, selected: Math.min(n - 1, s.selected + 1) }));
        else if (key.upArrow || input === "k") setExplain((s) => ({ ...s, selected: Math.max(0, s.selected - 1) }));
        else if (input === "n") setExplain((s) => ({ ...s, showNumbers: !s.showNumbers }));
      }
      return;
    }
    if (key.escape) {
      if (scoring) {
        scoringSkipped.current = true;
        setScoring(false);
        setNotice("scoring skipped: the list shows no predictions or flags");
      } else if (filter) setFilter("");
      return;
    }
    if (input === "/") return setFilterMode(true);
    const last = shown.length - 1;
    const pageSize = Math.max(1, rows - listChrome(list));
    if (key.downArrow || input === "j") setCursor((c) => Math.min(last, c + 1));
    else if (key.upArrow || input === "k") setCursor((c) => Math.max(0, c - 1));
    else if (key.pageDown) setCursor((c) => Math.min(last, c + pageSize));
    else if (key.pageUp) setCursor((c) => Math.max(0, c - pageSize));
    else if (key.home) setCursor(0);
    else if (key.end) setCursor(Math.max(0, last));
    else if (key.return && shown[cursor]) openRun(shown[cursor]!.id);
  });

  let body: ReactNode;
  if (help) body = <HelpScreen explainer={source.explainer} height={rows - APP_CHROME} />;
  else if (page?.detail) {
    body = (
      <RunScreen
        detail={page.detail}
        width={columns}
        height={rows - APP_CHROME}
        explainer={source.explainer}
        explainOpen={explain.open}
        answer={explain.answer}
        selected={explain.selected}
        showNumbers={explain.showNumbers}
      />
    );
  } else if (page?.error) {
    body = (
      <Text color="red">
        {page.error} <Text dimColor>(Esc back)</Text>
      </Text>
    );
  } else if (page) body = <Spinner label={`diagnosing run ${page.id} (Esc cancels)`} />;
  else if (listError) body = <Text color="red">{listError}</Text>;
  else if (!list) body = <Spinner label="reading the run history" />;
  else {
    body = (
      <RunListScreen
        list={list}
        shown={shown}
        cursor={Math.min(cursor, Math.max(0, shown.length - 1))}
        height={rows - listChrome(list)}
        width={columns}
        filter={filter}
        filterMode={filterMode}
        scoring={scoring}
        notice={notice}
      />
    );
  }
  return (
    // No width of its own: Ink sizes the root to the terminal at each render, so the frame drawn
    // right after a resize (before the size hook re-renders) is already cut to the new width.
    <Box flexDirection="column">
      <Box justifyContent="space-between" height={1} overflow="hidden">
        <Text bold>blit diagnose --ai</Text>
        <Text wrap="truncate-end">
          explainer: <Text color={source.explainer === "offline rules" ? "cyan" : "magenta"}>{source.explainer}</Text>
        </Text>
      </Box>
      <Text dimColor wrap="truncate-middle">
        store {source.storePath}
      </Text>
      {body}
      <Text dimColor wrap="truncate-end">
        {footer(help, page !== undefined, explain.open)}
      </Text>
    </Box>
  );
}

/** The one key line, for the screen on show (the screens draw none of their own). */
function footer(help: boolean, onPage: boolean, explainOpen: boolean): string {
  if (help) return "any key closes the help · Ctrl-C quits";
  if (explainOpen) return "↑↓ claim · n numbers · e close · Esc back · ? help · q quit";
  if (onPage) return "e explain · Esc back · ? help · q quit";
  return "↑↓ move · Enter open · / filter · Esc cancel · ? help · q quit";
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

import { describe, expect, test } from "bun:test";
import { homedir } from "node:os";
import { spoolDirFor, telemetryEnabled, telemetryPath } from "../../analytics/index.ts";

describe("telemetryPath", () => {
  test("BLIT_HOME wins over XDG_DATA_HOME and HOME", () => {
    expect(telemetryPath({ BLIT_HOME: "/srv/blit", XDG_DATA_HOME: "/xdg", HOME: "/home/u" })).toBe(
      "/srv/blit/telemetry.duckdb",
    );
  });

  test("XDG_DATA_HOME gets a blit subdirectory", () => {
    expect(telemetryPath({ XDG_DATA_HOME: "/xdg", HOME: "/home/u" })).toBe("/xdg/blit/telemetry.duckdb");
  });

  test("HOME falls back to ~/.local/share/blit", () => {
    expect(telemetryPath({ HOME: "/home/u" })).toBe("/home/u/.local/share/blit/telemetry.duckdb");
  });

  test("empty variables and a relative XDG_DATA_HOME count as unset", () => {
    expect(telemetryPath({ BLIT_HOME: "", XDG_DATA_HOME: "relative/dir", HOME: "/home/u" })).toBe(
      "/home/u/.local/share/blit/telemetry.duckdb",
    );
  });

  test("without HOME the OS home directory is used", () => {
    expect(telemetryPath({})).toBe(`${homedir()}/.local/share/blit/telemetry.duckdb`);
  });

  test("the spool sits beside the store", () => {
    expect(spoolDirFor("/srv/blit/telemetry.duckdb")).toBe("/srv/blit/spool");
  });
});

describe("telemetryEnabled", () => {
  test.each(["off", "0", "false", "OFF", " False "])("BLIT_TELEMETRY=%p turns it off", (value) => {
    expect(telemetryEnabled({ BLIT_TELEMETRY: value })).toBe(false);
  });

  test.each([undefined, "", "on", "1", "true"])("BLIT_TELEMETRY=%p leaves it on", (value) => {
    expect(telemetryEnabled({ BLIT_TELEMETRY: value })).toBe(true);
  });
});

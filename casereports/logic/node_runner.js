// Bridge for CI: evaluates JSON lines {"ast", "data"} from stdin with the browser engine and
// writes one JSON line per input: {"value": ...} or {"error": "..."}.
"use strict";
const path = require("path");
const readline = require("readline");
const logic = require(path.join(__dirname, "..", "static", "casereports", "logic.js"));

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
lines.on("line", (line) => {
  if (!line.trim()) return;
  try {
    const { ast, data } = JSON.parse(line);
    let value = logic.evaluate(ast, data);
    if (typeof value === "number" && !Number.isFinite(value)) value = "";
    out.push(JSON.stringify({ value }));
  } catch (error) {
    out.push(JSON.stringify({ error: String(error && error.message ? error.message : error) }));
  }
});
lines.on("close", () => {
  process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
});

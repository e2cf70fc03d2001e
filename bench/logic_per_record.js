// Times GDSILogic.evaluate over every AST for every record; reads {asts, records, rounds} JSON on stdin.
"use strict";
const path = require("path");
const logic = require(path.join(__dirname, "..", "casereports", "static", "casereports", "logic.js"));

let input = "";
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const { asts, records, rounds } = JSON.parse(input);
  let sink = 0;
  const evaluateAll = () => {
    for (const record of records) {
      for (const ast of asts) {
        if (logic.evaluate(ast, record) !== "") sink += 1;
      }
    }
  };
  evaluateAll(); // warm-up: let the JIT compile the walker before timing
  const started = process.hrtime.bigint();
  for (let round = 0; round < rounds; round += 1) evaluateAll();
  const elapsedNs = Number(process.hrtime.bigint() - started);
  process.stdout.write(JSON.stringify({ perRecordUs: elapsedNs / 1000 / (rounds * records.length), sink }));
});

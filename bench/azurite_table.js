#!/usr/bin/env node
// Azurite's Table service (in memory) with a bulk seed for the benchmarks: Azurite checks every inserted row
// against the whole partition (a scan), so seeding 100,000 rows of one partition over HTTP is quadratic there
// (hours on a busy host) though the real service is not. This starts Azurite's own TableServer and, on a
// "clone <account> <table> <file>" line on stdin, copies the table's one row (written over HTTP by the caller,
// as the app writes it) once per RowKey listed in <file> (one a line), straight into Azurite's store; the copy's
// string properties have the template's RowKey replaced by the new one. Answers "cloned <n>" on stdout.
//
// node bench/azurite_table.js <azurite dist dir>   -> prints "port <n>" once listening on 127.0.0.1
"use strict";
const fs = require("fs");
const path = require("path");
const readline = require("readline");

const dist = path.resolve(process.argv[2]);
const TableServer = require(path.join(dist, "src/table/TableServer")).default;
const TableConfiguration = require(path.join(dist, "src/table/TableConfiguration")).default;

async function main() {
  const config = new TableConfiguration(
    "127.0.0.1", 0, undefined, "bench-table-db", false, false, undefined, undefined, true, true,
    "", "", "", undefined, false, true,
  );
  const server = new TableServer(config);
  await server.start();
  console.log(`port ${server.httpServer.address().port}`);
  const store = server.metadataStore;
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    const [command, account, table, file] = line.trim().split(" ");
    if (command !== "clone") return;
    const collection = store.db.getCollection(store.getTableCollectionName(account, table));
    const template = collection.data[0];
    const keys = fs.readFileSync(file, "utf8").split("\n").filter((key) => key.length > 0);
    const copies = keys.map((key) => {
      const copy = JSON.parse(JSON.stringify(template).split(template.RowKey).join(key));
      delete copy.$loki;
      delete copy.meta;
      return copy;
    });
    collection.insert(copies);
    console.log(`cloned ${copies.length}`);
  });
  process.once("SIGTERM", () => server.close().then(() => process.exit(0)));
}

main().catch((error) => {
  console.error(`azurite_table: ${error.message}`);
  process.exit(1);
});

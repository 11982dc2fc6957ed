// Loaded into Azurite with `node --require` when `Azurite(collect_garbage=False)` (sandbox/azurite.py): its blob and
// queue mark-and-sweep becomes a no-op. Every ten minutes Azurite collects the extents of dropped queue messages and
// overwritten blobs in its one thread, removing them one at a time from an index it re-sorts on each removal; in a
// benchmark holding thousands of them (bench.reach at 1,000 users) it then answers nothing for minutes, a pause the
// storage service does not have. The memory those extents hold is kept instead (bounded by --extentMemoryLimit).
"use strict";
const Module = require("module");
const load = Module._load;
Module._load = function (request, ...rest) {
  const loaded = load.call(this, request, ...rest);
  if (/[\\/]gc[\\/](Blob|Queue)GCManager(\.js)?$/.test(request) && loaded && loaded.default) {
    loaded.default.prototype.markSweep = async function () {};
    process.stdout.write(`wearsync: ${request} mark and sweep off\n`);
  }
  return loaded;
};

// BullMQ 6.7 through failovers (tests/integration/test_cluster_clients.py). Adds jobs numbered
// 0, 1, 2, ... to QUEUE until OUT/stop appears, appending each number whose add was
// acknowledged to OUT/acked; a BullMQ Worker in this process runs them, each appending its number
// to OUT/done. Reaches the server through Sentinel (SENTINELS host:port,... and MASTER_NAME) or at
// REDIS_URL.
const fs = require("fs");
const path = require("path");
const { Queue, Worker } = require("bullmq");

const out = process.env.OUT;
const name = process.env.QUEUE;
let connection;
if (process.env.SENTINELS) {
  const sentinels = process.env.SENTINELS.split(",").map((a) => {
    const [host, port] = a.split(":");
    return { host, port: Number(port) };
  });
  connection = { sentinels, name: process.env.MASTER_NAME, maxRetriesPerRequest: null };
} else {
  const url = new URL(process.env.REDIS_URL);
  connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
}
const done = path.join(out, "done");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const queue = new Queue(name, { connection });
  const worker = new Worker(name, async (job) => fs.appendFileSync(done, `${job.data.n}\n`),
    { connection, concurrency: 2 });
  for (const emitter of [queue, worker]) emitter.on("error", (e) => console.log(`error: ${e.message}`));
  process.on("SIGTERM", () => process.exit(0));
  for (let n = 0; !fs.existsSync(path.join(out, "stop")); n++) {
    try {
      // The job's id is its number: a resent add (ioredis resends what was unanswered when a
      // connection dropped, though it may have run) finds the job instead of adding another.
      await queue.add("record", { n }, { jobId: `job-${n}` });
      fs.appendFileSync(path.join(out, "acked"), `${n}\n`);
    } catch (e) {
      console.log(`add ${n}: ${e.message}`);
    }
    await sleep(50);
  }
  fs.writeFileSync(path.join(out, "stopped"), "");
}

main();

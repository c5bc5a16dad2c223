// node-resque 9.7 through failovers (tests/integration/test_cluster_clients.py). Enqueues jobs
// numbered 0, 1, 2, ... on QUEUE until OUT/stop appears, appending each number whose enqueue was
// acknowledged to OUT/acked; a node-resque Worker in this process runs them, each appending its
// number to OUT/done. Reaches the server through Sentinel (SENTINELS host:port,... and
// MASTER_NAME) or at REDIS_URL, with the ioredis options BullMQ takes too.
const fs = require("fs");
const path = require("path");
const IORedis = require("ioredis");
const { Queue, Worker } = require("node-resque");

const out = process.env.OUT;
const name = process.env.QUEUE;
let options;
if (process.env.SENTINELS) {
  const sentinels = process.env.SENTINELS.split(",").map((a) => {
    const [host, port] = a.split(":");
    return { host, port: Number(port) };
  });
  options = { sentinels, name: process.env.MASTER_NAME };
} else {
  const url = new URL(process.env.REDIS_URL);
  options = { host: url.hostname, port: Number(url.port) };
}
// node-resque takes a connected ioredis client; the worker gets its own.
const connection = () => ({ redis: new IORedis(options), namespace: "resque" });
const jobs = { record: { perform: async (n) => fs.appendFileSync(path.join(out, "done"), `${n}\n`) } };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const queue = new Queue({ connection: connection() }, jobs);
  const worker = new Worker({ connection: connection(), queues: [name], timeout: 100 }, jobs);
  for (const emitter of [queue, worker]) emitter.on("error", (e) => console.log(`error: ${e.message}`));
  await queue.connect();
  await worker.connect();
  worker.start();
  process.on("SIGTERM", () => process.exit(0));
  for (let n = 0; !fs.existsSync(path.join(out, "stop")); n++) {
    try {
      await queue.enqueue(name, "record", [n]);
      fs.appendFileSync(path.join(out, "acked"), `${n}\n`);
    } catch (e) {
      console.log(`enqueue ${n}: ${e.message}`);
    }
    await sleep(50);
  }
  fs.writeFileSync(path.join(out, "stopped"), "");
}

main();

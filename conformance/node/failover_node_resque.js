// node-resque 9.7 through failovers (tests/integration/test_cluster_clients.py; the contract is
// in failover_client.js): a Queue enqueues the jobs, a Worker in this process runs them.
const IORedis = require("ioredis");
const { Queue, Worker } = require("node-resque");
const { queue: name, redisOptions, recordRun, produce } = require("./failover_client");

// node-resque takes a connected ioredis client; the worker gets its own.
const connection = () => ({ redis: new IORedis(redisOptions()), namespace: "resque" });
const jobs = { record: { perform: async (n) => recordRun(n) } };

async function main() {
  const queue = new Queue({ connection: connection() }, jobs);
  const worker = new Worker({ connection: connection(), queues: [name], timeout: 100 }, jobs);
  for (const emitter of [queue, worker]) emitter.on("error", (e) => console.log(`error: ${e.message}`));
  await queue.connect();
  await worker.connect();
  worker.start();
  await produce((n) => queue.enqueue(name, "record", [n]));
}

main();

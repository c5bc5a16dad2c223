// What the Node failover clients (failover_bullmq.js, failover_node_resque.js) share: the
// contract of tests/integration/test_cluster_clients.py. Jobs numbered 0, 1, 2, ... go to QUEUE
// until OUT/stop appears; each number whose enqueue was acknowledged is appended to OUT/acked,
// each run of a job appends its number to OUT/done. The server is reached through Sentinel
// (SENTINELS host:port,... and MASTER_NAME) or at REDIS_URL.
const fs = require("fs");
const path = require("path");

const out = process.env.OUT;
const queue = process.env.QUEUE;

// ioredis options for the server, as both libraries take them.
function redisOptions() {
  if (process.env.SENTINELS) {
    const sentinels = process.env.SENTINELS.split(",").map((a) => {
      const [host, port] = a.split(":");
      return { host, port: Number(port) };
    });
    return { sentinels, name: process.env.MASTER_NAME };
  }
  const url = new URL(process.env.REDIS_URL);
  return { host: url.hostname, port: Number(url.port) };
}

// A job's run: its number to OUT/done.
function recordRun(n) {
  fs.appendFileSync(path.join(out, "done"), `${n}\n`);
}

// Enqueues job after job with `enqueue(n)` (50 ms apart) until OUT/stop appears, then says so
// in OUT/stopped. The driver ends the process with SIGTERM once it has read the files.
async function produce(enqueue) {
  process.on("SIGTERM", () => process.exit(0));
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let n = 0; !fs.existsSync(path.join(out, "stop")); n++) {
    try {
      await enqueue(n);
      fs.appendFileSync(path.join(out, "acked"), `${n}\n`);
    } catch (e) {
      console.log(`enqueue ${n}: ${e.message}`);
    }
    await sleep(50);
  }
  fs.writeFileSync(path.join(out, "stopped"), "");
}

module.exports = { queue, redisOptions, recordRun, produce };

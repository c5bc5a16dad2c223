// node-resque 9.7.1 (ioredis 5) against the server at REDIS_URL: enqueue and enqueueIn, 3
// workers and a scheduler, the Retry plugin for flaky jobs and for one that ends in
// resque:failed, then the queue API's reads. Exits non-zero on the first mismatch.
const { Queue, Worker, Scheduler, Plugins } = require("node-resque");
const IORedis = require("ioredis");
const { check, waitFor } = require("./checks");

const url = new URL(process.env.REDIS_URL);
const connection = { pkg: "ioredis", host: url.hostname, port: Number(url.port), database: 0, namespace: "resque" };
const counters = new IORedis(Number(url.port), url.hostname);

const jobs = {
  add: {
    perform: async (a, b) => {
      await counters.sadd("conformance:add", String(a));
      return a + b;
    },
  },
  flaky: {
    plugins: [Plugins.Retry],
    pluginOptions: { Retry: { retryLimit: 3, retryDelay: 500 } },
    perform: async (i) => {
      if ((await counters.incr(`conformance:flaky:${i}`)) < 2) throw new Error(`flaky ${i}`);
      await counters.sadd("conformance:flaky-done", String(i));
    },
  },
  doomed: {
    plugins: [Plugins.Retry],
    pluginOptions: { Retry: { retryLimit: 2, retryDelay: 200 } },
    perform: async () => {
      await counters.incr("conformance:doomed-attempts");
      throw new Error("doomed");
    },
  },
};

async function main() {
  await counters.flushdb();
  const queue = new Queue({ connection }, jobs);
  await queue.connect();
  for (let i = 0; i < 190; i++) await queue.enqueue("q", "add", [i, i]);
  for (let i = 0; i < 10; i++) await queue.enqueueIn(1000, "q", "add", [1000 + i, 0]);
  for (let i = 0; i < 5; i++) await queue.enqueue("q", "flaky", [i]);
  await queue.enqueue("q", "doomed", []);
  check("196 jobs queued", (await queue.length("q")) === 196);
  check("10 delayed", (await queue.scheduledAt("q", "add", [1000, 0])).length === 1);

  const scheduler = new Scheduler({ connection, timeout: 100 });
  await scheduler.connect();
  scheduler.start();
  const workers = [1, 2, 3].map((n) => new Worker({ connection, queues: ["q"], timeout: 100, name: `w${n}` }, jobs));
  for (const w of workers) {
    await w.connect();
    w.start();
  }
  await waitFor("every job to settle", async () =>
    (await counters.scard("conformance:add")) === 200 &&
    (await counters.scard("conformance:flaky-done")) === 5 &&
    (await queue.failedCount()) === 1);

  check("each flaky job ran twice", (await Promise.all([0, 1, 2, 3, 4].map((i) => counters.get(`conformance:flaky:${i}`)))).every((n) => n === "2"));
  const failed = await queue.failed(0, 10);
  check("the doomed job is in resque:failed", failed.length === 1 && failed[0].payload.class === "doomed");
  const attempts = await counters.get("conformance:doomed-attempts");
  check(`the doomed job ran retryLimit (2) times (${attempts})`, attempts === "2");
  check("the queue is drained", (await queue.length("q")) === 0);
  check("queues lists q", (await queue.queues()).includes("q"));
  const stats = await queue.stats();
  check(`stats count processed (${stats.processed})`, Number(stats.processed) >= 200);
  check("three workers are registered", Object.keys(await queue.workers()).length === 3);
  check("a scheduler leads", (await queue.leader()) !== null);
  check("no delayed timestamps are left", (await queue.timestamps()).length === 0);
  if ((await counters.info("server")).includes("desaster_version")) {
    // desaster counts the runs in its job metrics as node-resque counts them, from the key a
    // worker keeps its job in (set when the job starts, deleted when it is done), its processed
    // and failed counters and its failure records (a run the Retry plugin retries is failed).
    const toMap = (flat) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 ? [] : [[v, flat[i + 1]]])));
    const series = toMap(await counters.call("METRICS.TOP", "CLASS")).series.map(toMap);
    const runs = Object.fromEntries(series.map((s) => [s.name, [s.processed, s.failed]]));
    check(`runs by class: ${JSON.stringify(runs)}`,
      JSON.stringify(runs) === JSON.stringify({ add: [200, 0], flaky: [5, 5], doomed: [0, 2] }));
    const total = toMap(toMap(await counters.call("METRICS.RANGE", "QUEUE", "resque:queue:q")).total);
    check(`the queue's runs are those its stats count (${total.processed}, ${total.failed})`,
      total.processed === Number(stats.processed) && total.failed === Number(stats.failed));
    // Each successful run is in the completed store, under the id its job had in the queue
    // (node-resque writes back the payload it popped), with its worker and its wait.
    const completed = toMap(await counters.call("COMPLETED.LIST", "LIMIT", "1000"));
    const done = completed.jobs.map(toMap);
    const byClass = {};
    for (const j of done) byClass[j.class] = (byClass[j.class] || 0) + 1;
    check(`completed jobs by class: ${JSON.stringify(byClass)}`, completed.total === 205 && byClass.add === 200 && byClass.flaky === 5);
    check("each completed job kept its id, its worker and its wait",
      done.every((j) => j.enqueued_at !== null && j.wait >= 0 && ["w1", "w2", "w3"].includes(j.worker)));
  }

  // Every script is gone (as on a node that never saw them): ioredis answers NOSCRIPT with EVAL.
  await counters.script("FLUSH");
  await queue.enqueue("q", "add", [3000, 0]);
  await waitFor("a job enqueued and run after SCRIPT FLUSH", async () => await counters.sismember("conformance:add", "3000"));
  for (const w of workers) await w.end();
  await scheduler.end();
  await queue.end();
  await counters.quit();
  console.log("node-resque conformance passed");
}

// An exception fails the run like a failed check (exit status 1).
main().catch((error) => check(error.stack || String(error), false));

// BullMQ 6.7.0 (ioredis, RESP3 by default) against the server at REDIS_URL: add and addBulk,
// delayed, prioritized and flaky jobs retried by BullMQ's own backoff, one job that fails for
// good, remove(), a FlowProducer (EVAL inside MULTI), a repeating job scheduler, QueueEvents
// (XREAD BLOCK) and the monitoring reads. Exits non-zero on the first mismatch.
const { Queue, Worker, QueueEvents, FlowProducer } = require("bullmq");
const IORedis = require("ioredis");
const { check, waitFor } = require("./checks");

const url = new URL(process.env.REDIS_URL);
const connection = { host: url.hostname, port: Number(url.port), maxRetriesPerRequest: null };
const counters = new IORedis(Number(url.port), url.hostname);

async function main() {
  await counters.flushdb();
  const queue = new Queue("conf", { connection });
  const events = new QueueEvents("conf", { connection });
  await events.waitUntilReady();
  let completedEvents = 0;
  events.on("completed", () => completedEvents++);

  for (let i = 0; i < 150; i++) await queue.add("add", { a: i, b: i });
  await queue.addBulk(Array.from({ length: 40 }, (_, i) => ({ name: "add", data: { a: 150 + i, b: 0 } })));
  for (let i = 0; i < 10; i++) await queue.add("add", { a: 1000 + i, b: 0 }, { delay: 800 });
  await queue.add("add", { a: 2000, b: 0 }, { priority: 1 });
  for (let i = 0; i < 5; i++) {
    await queue.add("flaky", { i }, { attempts: 3, backoff: { type: "fixed", delay: 300 } });
  }
  await queue.add("doomed", {}, { attempts: 2, backoff: { type: "exponential", delay: 100 } });
  const removed = await queue.add("add", { a: -1, b: 0 });
  await removed.remove();
  const counts = await queue.getJobCounts("wait", "delayed", "prioritized");
  check(`jobs waiting, delayed and prioritized: ${JSON.stringify(counts)}`, counts.wait === 196 && counts.delayed === 10 && counts.prioritized === 1);

  const flow = new FlowProducer({ connection });
  await flow.add({
    name: "parent", queueName: "conf", data: {},
    children: [{ name: "child", queueName: "conf", data: { n: 1 } }, { name: "child", queueName: "conf", data: { n: 2 } }],
  });
  await queue.upsertJobScheduler("tick", { every: 400, limit: 3 }, { name: "tick", data: {} });

  const worker = new Worker("conf", async (job) => {
    switch (job.name) {
      case "add":
        await counters.sadd("conformance:add", String(job.data.a));
        return job.data.a + job.data.b;
      case "flaky":
        if ((await counters.incr(`conformance:flaky:${job.data.i}`)) < 2) throw new Error(`flaky ${job.data.i}`);
        return "ok";
      case "doomed":
        await counters.incr("conformance:doomed-attempts");
        throw new Error("doomed");
      case "child":
        return job.data.n * 10;
      case "parent":
        return Object.values(await job.getChildrenValues()).reduce((a, b) => a + b, 0);
      case "tick":
        await counters.incr("conformance:ticks");
        return "tick";
      default:
        throw new Error(`unknown job ${job.name}`);
    }
  }, { connection, concurrency: 5 });

  await waitFor("201 add jobs to run", async () => (await counters.scard("conformance:add")) === 201);
  await waitFor("the flaky jobs to succeed on retry", async () => (await queue.getJobCounts("completed")).completed >= 201 + 5 + 3);
  await waitFor("the doomed job to fail for good", async () => (await queue.getJobCounts("failed")).failed === 1);
  await waitFor("the scheduler to fire 3 times", async () => Number(await counters.get("conformance:ticks")) >= 3);
  check("the doomed job ran twice", Number(await counters.get("conformance:doomed-attempts")) === 2);
  const [failed] = await queue.getFailed();
  check("the failure records its error and attempts", failed.failedReason === "doomed" && failed.attemptsMade === 2);
  const completed = await queue.getCompleted(0, 1000);
  const parent = completed.find((j) => j.name === "parent");
  check("the flow's parent ran after its children", parent && parent.returnvalue === 30);
  check("every flaky job was retried once", (await Promise.all([0, 1, 2, 3, 4].map((i) => counters.get(`conformance:flaky:${i}`)))).every((n) => Number(n) === 2));
  check("the removed job never ran", !(await counters.sismember("conformance:add", "-1")));
  check("delayed jobs are done", (await queue.getDelayed()).filter((j) => j.name === "add").length === 0);
  check("the worker is listed", (await queue.getWorkers()).length >= 1);
  check("the job scheduler is listed", (await queue.getJobSchedulers()).some((s) => s.key === "tick"));
  await waitFor("completed events over XREAD", async () => completedEvents >= 201);
  // Every script is gone (as on a node that never saw them): ioredis answers NOSCRIPT with EVAL.
  await counters.script("FLUSH");
  await queue.add("add", { a: 3000, b: 0 });
  await waitFor("a job added and run after SCRIPT FLUSH", async () => await counters.sismember("conformance:add", "3000"));
  await worker.close();
  await flow.close();
  await events.close();
  await queue.close();
  await counters.quit();
  console.log("bullmq conformance passed");
}

// An exception fails the run like a failed check (exit status 1).
main().catch((error) => check(error.stack || String(error), false));

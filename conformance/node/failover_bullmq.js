// BullMQ 6.7 through failovers (tests/integration/test_cluster_clients.py; the contract is in
// failover_client.js): a Queue adds the jobs, a Worker in this process runs them.
const { Queue, Worker } = require("bullmq");
const { queue: name, redisOptions, recordRun, produce } = require("./failover_client");

const connection = { ...redisOptions(), maxRetriesPerRequest: null };
const queue = new Queue(name, { connection });
const worker = new Worker(name, async (job) => recordRun(job.data.n), { connection, concurrency: 2 });
for (const emitter of [queue, worker]) emitter.on("error", (e) => console.log(`error: ${e.message}`));
// The job's id is its number: a resent add (ioredis resends what was unanswered when a
// connection dropped, though it may have run) finds the job instead of adding another.
produce((n) => queue.add("record", { n }, { jobId: `job-${n}` }));

#!/usr/bin/python3
"""Waiting jobs' payloads kept compressed in memory (payload-compression-delay): every way of
reading a job gives back the bytes that were pushed, before and after compression, across
moves, deleted queues and restarts; searches leave jobs compressed; young jobs stay plain."""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Scheduler, ServerTest, as_map, data_dir, main, wait_for  # noqa: E402


def sidekiq_job(rng, i):
    """A Sidekiq-style job whose ids and arguments differ from its neighbours'."""
    n = lambda: str(rng.randrange(10**6))  # noqa: E731
    return ('{"class":"MailJob","args":[%d,"user%s@example.com",{"campaign":"%s"}],"jid":"%s%s",'
            '"queue":"mail","retry":true,"created_at":1733400000.%s}' % (i, n(), n(), n(), n(), n()))


def compression(r):
    m = r.info("memory")
    return (m["compressed_payloads"], m["compressed_payloads_bytes"],
            m["compressed_payloads_original_bytes"])


def wait_compressed(r, count, timeout=30):
    return wait_for(lambda: compression(r)[0] >= count and compression(r), timeout=timeout,
                    what=f"{count} payloads compressed")


class CompressionTest(ServerTest):
    extra_args = ("--payload-compression-delay", "0")

    def setUp(self):
        super().setUp()
        self.r.config_set("payload-compression-delay", "0")

    def test_compressed_jobs_read_back_as_pushed(self):
        r = self.r
        rng = random.Random(1)
        jobs = [sidekiq_job(rng, i) for i in range(3000)]
        r.config_set("payload-compression-delay", "-1")
        r.rpush("resque:queue:mail", *jobs)
        # Binary payloads and ones too short to compress sit among them.
        odd = [b"\x00\xff" * 40 + bytes(range(256)), b"short"]
        r.rpush("resque:queue:mail", *odd)
        later = [sidekiq_job(rng, i) for i in range(3000, 3010)]
        ids = [r.execute_command("JOB.PUSH", "resque:queue:mail", j, "DELAY", "600000")
               for j in later]
        digest = r.execute_command("DEBUG", "DIGEST")
        self.assertEqual(compression(r)[0], 0)

        r.config_set("payload-compression-delay", "0")
        count, stored, original = wait_compressed(r, 3011)
        self.assertEqual(count, 3011)  # "short" stays plain
        self.assertLess(stored, original / 2)
        self.assertEqual(r.execute_command("DEBUG", "DIGEST"), digest)

        # A search reads every job without keeping any plain.
        found = as_map(r.execute_command("QUEUE.JOBS", "resque:queue:mail", "MATCH",
                                         '"args":[1234,', "LIMIT", "5"))
        self.assertEqual(found["total"], 1)
        self.assertEqual(as_map(found["jobs"][0])["payload"].decode(), jobs[1234])
        klass = as_map(r.execute_command("QUEUE.JOBS", "resque:queue:mail", "CLASS", "MailJob",
                                         "LIMIT", "1"))
        self.assertEqual(klass["total"], 3000 + 10)
        self.assertEqual(compression(r)[0], count)

        # Reads: a range, an index, the delayed jobs' records, pops from both ends.
        self.assertEqual([x.decode() for x in r.lrange("resque:queue:mail", 100, 199)],
                         jobs[100:200])
        self.assertEqual(r.lindex("resque:queue:mail", 2999).decode(), jobs[2999])
        self.assertEqual(as_map(r.execute_command("JOB.INFO", ids[3]))["payload"].decode(),
                         later[3])
        self.assertEqual(r.lpop("resque:queue:mail").decode(), jobs[0])
        self.assertEqual(r.rpop("resque:queue:mail", 2), list(reversed(odd)))
        # Read jobs become plain; a later round compresses them again. Three were popped.
        self.assertLess(compression(r)[0], count - 2)
        self.assertEqual(wait_compressed(r, count - 2)[0], count - 2)
        self.assertEqual([x.decode() for x in r.lrange("resque:queue:mail", 0, -1)], jobs[1:])

    def test_a_moved_job_outlives_its_first_queue(self):
        r = self.r
        rng = random.Random(2)
        jobs = [sidekiq_job(rng, i) for i in range(100)]
        r.rpush("resque:queue:first", *jobs)
        wait_compressed(r, 90)  # the samples may wait for the next round
        # Moved compressed (JOB.MOVE of a query does not read the payloads), then the queue
        # whose dictionary they were compressed against goes.
        self.assertEqual(r.execute_command("JOB.MOVE", "resque:queue:second", "WHERE",
                                           "resque:queue:first", "MATCH", "user"), 100)
        r.delete("resque:queue:first")
        self.assertEqual([x.decode() for x in r.lrange("resque:queue:second", 0, -1)], jobs)

    def test_compressed_jobs_survive_a_restart_and_compress_again(self):
        rng = random.Random(3)
        jobs = [sidekiq_job(rng, i) for i in range(500)]
        data = data_dir(self, "compressed")
        server = Scheduler("--payload-compression-delay", "0", data_dir=data)
        try:
            r = server.client()
            r.rpush("resque:queue:kept", *jobs)
            wait_compressed(r, 490)
            digest = r.execute_command("DEBUG", "DIGEST")
            r.close()
            server.kill()  # the store holds plain payloads: nothing to write back
            server = Scheduler("--payload-compression-delay", "0", data_dir=data)
            server.wait_loaded()
            r = server.client()
            self.assertEqual(r.execute_command("DEBUG", "DIGEST"), digest)
            wait_compressed(r, 490)
            self.assertEqual([x.decode() for x in r.lrange("resque:queue:kept", 0, -1)], jobs)
            r.close()
        finally:
            server.stop()

    def test_jobs_stay_plain_until_they_waited_the_delay(self):
        r = self.r
        rng = random.Random(4)
        r.config_set("payload-compression-delay", "2000")
        pushed = time.monotonic()
        r.rpush("resque:queue:young", *[sidekiq_job(rng, i) for i in range(200)])
        wait_compressed(r, 190)
        self.assertGreaterEqual(time.monotonic() - pushed, 2.0)

    def test_the_delay_is_a_number_of_milliseconds_or_minus_one(self):
        r = self.r
        for bad in ("-2", "soon", "1.5"):
            with self.assertRaises(Exception):
                r.config_set("payload-compression-delay", bad)
        r.config_set("payload-compression-delay", "-1")
        self.assertEqual(r.config_get("payload-compression-delay"),
                         {"payload-compression-delay": "-1"})


if __name__ == "__main__":
    main()

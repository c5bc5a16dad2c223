#!/usr/bin/python3
"""Pub/sub: channels, patterns, RESP2 subscribed-state rules, RESP3 push messages."""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis  # noqa: E402
from differential import EventListener  # noqa: E402
from harness import RedisServer, Reply, Scheduler, ServerTest, main, wait_for  # noqa: E402


def b(x):
    return Reply("$", x.encode() if isinstance(x, str) else x)


class PubSubTest(ServerTest):
    def test_channel_and_pattern_messages(self):
        sub = self.connect()
        self.assertEqual(sub.call("SUBSCRIBE", "news", "alerts"),
                         Reply("*", [b("subscribe"), b("news"), Reply(":", 1)]))
        self.assertEqual(sub.read(), Reply("*", [b("subscribe"), b("alerts"), Reply(":", 2)]))
        sub.send(sub.encode("PSUBSCRIBE", "/0.celeryev/worker.*"))
        self.assertEqual(sub.read(), Reply("*", [b("psubscribe"), b("/0.celeryev/worker.*"), Reply(":", 3)]))
        self.assertEqual(self.r.publish("news", "hello"), 1)
        self.assertEqual(sub.read(), Reply("*", [b("message"), b("news"), b("hello")]))
        self.assertEqual(self.r.publish("/0.celeryev/worker.online", "{}"), 1)
        self.assertEqual(sub.read(), Reply("*", [b("pmessage"), b("/0.celeryev/worker.*"),
                                                 b("/0.celeryev/worker.online"), b("{}")]))
        self.assertEqual(self.r.publish("nobody", "x"), 0)

    def test_subscribed_resp2_connection_accepts_only_pubsub_commands(self):
        sub = self.connect()
        sub.call("SUBSCRIBE", "c")
        self.assertEqual(sub.call("GET", "k"), Reply("-", (
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
            "RESET are allowed in this context")))
        self.assertEqual(sub.call("PING"), Reply("*", [b("pong"), b("")]))
        self.assertEqual(sub.call("UNSUBSCRIBE"), Reply("*", [b("unsubscribe"), b("c"), Reply(":", 0)]))
        self.assertEqual(sub.call("GET", "k"), Reply("$", None))
        self.assertEqual(sub.call("UNSUBSCRIBE"), Reply("*", [b("unsubscribe"), Reply("$", None), Reply(":", 0)]))

    def test_resp3_uses_push_messages_and_allows_other_commands(self):
        sub = self.connect()
        sub.call("HELLO", "3")
        self.assertEqual(sub.call("SUBSCRIBE", "c"), Reply(">", [b("subscribe"), b("c"), Reply(":", 1)]))
        self.assertEqual(sub.call("GET", "k"), Reply("nil", None))
        self.r.publish("c", "m")
        self.assertEqual(sub.read(), Reply(">", [b("message"), b("c"), b("m")]))

    def test_pubsub_introspection(self):
        sub = self.connect()
        sub.call("SUBSCRIBE", "a1", "a2", "b1")
        sub.read(), sub.read()
        sub.send(sub.encode("PSUBSCRIBE", "x*"))
        sub.read()
        self.assertEqual(sorted(self.r.pubsub_channels("a*")), [b"a1", b"a2"])
        self.assertEqual(self.r.pubsub_numsub("a1", "zz"), [(b"a1", 1), (b"zz", 0)])
        self.assertEqual(self.r.pubsub_numpat(), 1)
        sub.close()
        wait_for(lambda: self.r.pubsub_channels() == [], what="subscriptions of a closed client to go")

    def test_subscriber_that_never_reads_is_disconnected_at_the_output_limit(self):
        sub = self.connect()
        sub.call("SUBSCRIBE", "firehose")
        payload = b"x" * (1024 * 1024)
        # Past the 32 MB hard limit for pub/sub clients (plus what socket buffers hold).
        for _ in range(64):
            self.r.publish("firehose", payload)
            if self.r.pubsub_numsub("firehose") == [(b"firehose", 0)]:
                break
        wait_for(lambda: self.r.pubsub_numsub("firehose") == [(b"firehose", 0)],
                 what="the slow subscriber to be dropped")
        self.assertIn("pub/sub limit", self.server.log_text())
        self.assertTrue(self.r.ping())

    def test_redis_py_pubsub_as_rq_and_celery_use_it(self):
        p = self.server.client().pubsub()
        p.subscribe("rq:pubsub:worker1")
        p.psubscribe("/0.celery.pidbox")
        got = wait_for(lambda: p.get_message(timeout=0.1), what="subscribe confirmation")
        self.assertEqual(got["type"], "subscribe")
        wait_for(lambda: p.get_message(timeout=0.1), what="psubscribe confirmation")
        self.r.publish("rq:pubsub:worker1", '{"command":"shutdown"}')
        msg = wait_for(lambda: p.get_message(timeout=0.1), what="the message")
        self.assertEqual(msg["data"], b'{"command":"shutdown"}')
        p.close()


class KeyspaceNotificationTest(ServerTest):
    """Keyspace events side by side with redis-server where timing is not at stake (the
    differential test compares them after every command it generates); expiry events with
    deadlines."""

    def side_by_side(self, steps):
        """Runs steps(client, other_client) against redis-server and desaster, both announcing
        every class; returns each server's events."""
        redis_server = RedisServer()
        self.addCleanup(redis_server.stop)
        events = []
        for port in (redis_server.port, self.server.port):
            r, other = redis.Redis(port=port), redis.Redis(port=port)
            r.config_set("notify-keyspace-events", "AKEn")
            listener = EventListener(port)
            steps(r, other)
            events.append(listener.events())
            listener.conn.close()
        self.assertEqual(events[1], events[0])
        return events[1]

    def test_configuration_reads_back_as_redis_writes_it(self):
        redis_server = RedisServer()
        self.addCleanup(redis_server.stop)
        for value in ("KEA", "Kg$", "Elshzxetdn", "AKEmn", "", "gA", "KEA$lshzxetd"):
            answers = []
            for port in (redis_server.port, self.server.port):
                r = redis.Redis(port=port, decode_responses=True)
                r.config_set("notify-keyspace-events", value)
                answers.append(r.config_get("notify-keyspace-events"))
            self.assertEqual(answers[1], answers[0], value)
        with self.assertRaisesRegex(Exception, "Invalid event class character"):
            self.r.config_set("notify-keyspace-events", "KEq")

    def test_a_blocked_pop_served_by_another_clients_push_is_announced_as_redis_does(self):
        def steps(r, other):
            blocked = threading.Thread(target=lambda: r.blpop(["jobs"], timeout=10))
            blocked.start()
            wait_for(lambda: other.info("clients")["blocked_clients"] == 1, timeout=10)
            other.rpush("jobs", "a", "b")
            blocked.join()
            other.lmove("jobs", "done", "LEFT", "RIGHT")
            other.copy("done", "copied")
            other.move("copied", 1)
            other.rename("done", "finished")
            other.expire("finished", 1000)
            other.persist("finished")
            other.delete("finished")
        events = self.side_by_side(steps)
        self.assertIn((b"__keyevent@0__:lpop", b"jobs"), events)

    def test_queue_keys_announce_what_lists_announce(self):
        # A resque queue is a desaster queue behind the list commands; its events are a list's.
        def steps(r, other):
            r.rpush("resque:queue:mail", '{"class":"Mail","args":[1]}')
            r.lpop("resque:queue:mail")
            r.sadd("resque:queues", "mail")
        self.side_by_side(steps)

    def test_loading_announces_nothing(self):
        # Events come from commands: reloading the data directory creates every key again,
        # and says nothing of it (as Redis' load).
        self.r.rpush("l", "a")
        self.r.set("s", "v")
        self.r.config_set("notify-keyspace-events", "AKEn")
        listener = EventListener(self.server.port)
        self.assertEqual(self.r.execute_command("DEBUG", "RELOAD"), b"OK")
        self.r.set("after", "v")
        self.assertEqual([m for _, m in listener.events()], [b"new", b"after", b"set", b"after"])
        listener.conn.close()

    def test_expired_keys_are_announced_when_found_and_when_their_time_comes(self):
        self.r.config_set("notify-keyspace-events", "Ex")
        listener = EventListener(self.server.port)
        self.r.set("lazy", "v", px=20)
        self.r.set("active", "v", px=20)
        wait_for(lambda: self.r.pttl("lazy") == -2, timeout=10)  # a read finds it past its time
        seen = []
        wait_for(lambda: seen.extend(listener.events()) or
                 {m for _, m in seen} >= {b"lazy", b"active"}, timeout=10)
        self.assertEqual({c for c, _ in seen}, {b"__keyevent@0__:expired"})
        listener.conn.close()


if __name__ == "__main__":
    main()

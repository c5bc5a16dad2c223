#!/usr/bin/python3
"""desaster-web's JSON API against a real scheduler: every endpoint, its errors, CSRF and login,
static files without path traversal, limits, and the live event stream."""
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Scheduler, ServerTest, Web, as_map, main, wait_for  # noqa: E402


class Http:
    """A cookie-keeping client for one web daemon; answers (status, headers, parsed JSON)."""

    def __init__(self, url):
        parsed = urllib.parse.urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.cookies = {}
        self.csrf = None

    def request(self, method, path, body=None, headers=None, raw=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        res = conn.getresponse()
        text = res.read()
        for value in res.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            self.cookies[name] = rest.split(";")[0]
        conn.close()
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = text
        return res.status, res.headers, parsed

    def events(self):
        """The session's live event stream: (its socket, a function that returns the next
        overview it sends)."""
        sock = socket.create_connection((self.host, self.port), timeout=10)
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                     (f"Cookie: {cookie}\r\n" if cookie else "").encode() + b"\r\n")
        stream = sock.makefile("rb")
        assert b"200 OK" in stream.readline()

        def next_overview():
            event = None
            while True:
                line = stream.readline()
                if line.startswith(b"event: "):
                    event = line[7:].strip()
                elif line.startswith(b"data: ") and event == b"overview":
                    return json.loads(line[6:])
        return sock, next_overview

    def get(self, path):
        status, _, body = self.request("GET", path)
        assert status == 200, (path, status, body)
        return body

    def login_token(self):
        self.csrf = self.get("/api/session")["csrf"]

    def post(self, path, body=None, expect=200, method="POST"):
        status, _, reply = self.request(method, path, body if body is not None else {},
                                        {"X-CSRF-Token": self.csrf or ""})
        assert status == expect, (path, status, reply)
        return reply


def q(key):
    return urllib.parse.quote(key, safe="")


def job(klass, *args):
    return json.dumps({"class": klass, "args": list(args)})


class WebApiTest(ServerTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.web = Web(cls.server.port)

    @classmethod
    def tearDownClass(cls):
        cls.web.stop()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.http = Http(self.web.url)
        self.http.login_token()

    def test_session_of_an_open_ui_gives_a_csrf_token(self):
        s = self.http.get("/api/session")
        self.assertEqual((s["login_required"], s["authenticated"]), (False, True))
        self.assertEqual(len(s["csrf"]), 48)

    def test_state_changes_need_the_csrf_token_and_a_json_body(self):
        h = self.http
        status, _, body = h.request("POST", "/api/queues", {"queue": "x"})
        self.assertEqual(status, 403)
        self.assertIn("X-CSRF-Token", body["error"])
        status, _, _ = h.request("POST", "/api/queues", {"queue": "x"}, {"X-CSRF-Token": "nope"})
        self.assertEqual(status, 403)
        status, _, body = h.request("POST", "/api/queues", raw=b"queue=x",
                                    headers={"X-CSRF-Token": h.csrf,
                                             "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((status, body["error"]), (415, "send the body as application/json"))
        for bad in (b"{not json", b"[1,2]", b'"text"'):
            status, _, body = h.request("POST", "/api/queues", raw=bad, headers={
                "X-CSRF-Token": h.csrf, "Content-Type": "application/json"})
            self.assertEqual((status, body["error"]), (400, "the body must be a JSON object"))
        status, _, body = h.request("DELETE", "/api/queues/x")
        self.assertEqual(status, 403)
        self.assertIsNone(self.r.execute_command("QUEUE.LIST", "MATCH", "x") or None)

    def test_queue_lifecycle(self):
        h = self.http
        h.post("/api/queues", {"queue": "mail", "discipline": "drr", "params": {"weight.a": 3},
                               "unique": True, "retry": 2, "backoff": "exp", "capability": "smtp"})
        info = h.get("/api/queues/mail")["result"]
        self.assertEqual(info["config"], {"discipline": "drr", "params": {"weight.a": "3"},
                                          "unique": 1, "unique_by": "", "retry": 2,
                                          "retry_default": 0, "backoff": "exp", "paused": 0,
                                          "capability": "smtp"})
        err = h.post("/api/queues", {"queue": "mail"}, expect=400)["error"]
        self.assertIn("exists", err)
        self.assertEqual(h.post("/api/queues", {}, expect=400)["error"],
                         "'queue' (the queue's key) is required")
        h.post("/api/queues/mail/config", {"discipline": "sfq", "unique": False})
        self.assertEqual(h.get("/api/queues/mail")["result"]["config"]["discipline"], "sfq")
        bad = h.post("/api/queues/mail/config", {"discipline": "nope"}, expect=400)["error"]
        self.assertIn("nope", bad)
        h.post("/api/queues/mail/pause")
        self.assertEqual(h.get("/api/queues/mail")["result"]["config"]["paused"], 1)
        h.post("/api/queues/mail/resume")
        jid = h.post("/api/queues/mail/jobs", {"payload": {"class": "Welcome", "args": [1]},
                                               "priority": 5})["result"]
        self.assertEqual(as_map(self.r.execute_command("JOB.INFO", jid))["priority"], 5)
        listed = h.get("/api/queues")["result"]
        self.assertEqual([x["key"] for x in listed], ["mail"])
        self.assertEqual(listed[0]["ready"], 1)
        self.assertEqual(h.post("/api/queues/mail/clear")["result"], 1)
        self.assertEqual(h.post("/api/queues/mail", method="DELETE")["result"], 1)
        self.assertIn("no such queue", h.request("GET", "/api/queues/mail")[2]["error"])
        self.assertIn("fifo", h.get("/api/disciplines")["result"])

    def test_queue_jobs_search_sort_and_page(self):
        h, r = self.http, self.r
        for i in range(30):
            r.rpush("resque:queue:work", job("Report" if i % 3 == 0 else "Mail", i))
        base = "/api/queues/" + q("resque:queue:work") + "/jobs"
        page = h.get(base + "?class=Report&limit=4&offset=2")["result"]
        self.assertEqual(page["total"], 10)
        self.assertEqual([j["args"] for j in page["jobs"]], ["[6]", "[9]", "[12]", "[15]"])
        found = h.get(base + "?match=" + q('[27]'))["result"]
        self.assertEqual([j["class"] for j in found["jobs"]], ["Report"])
        desc = h.get(base + "?sort=id&order=desc&limit=1")["result"]["jobs"][0]
        self.assertEqual(desc["args"], "[29]")
        self.assertIn("SORT", h.request("GET", base + "?sort=nonsense")[2]["error"])

    def test_job_actions_by_ids_and_by_filter(self):
        h, r = self.http, self.r
        ids = [r.execute_command("JOB.PUSH", "jobs", job("A" if i < 5 else "B", i)).decode()
               for i in range(8)]
        self.assertEqual(h.get("/api/jobs/" + ids[0])["result"]["class"], "A")
        self.assertEqual(h.post("/api/jobs/update", {"ids": ids[:2],
                                                     "set": {"priority": 7, "flow": "vip"}})
                         ["result"], 2)
        self.assertEqual(as_map(r.execute_command("JOB.INFO", ids[1]))["flow"], b"vip")
        moved = h.post("/api/jobs/move", {"to": "other", "where": {"queue": "jobs", "class": "B"}})
        self.assertEqual(moved["result"], 3)
        self.assertEqual(r.llen("other"), 3)
        self.assertEqual(h.post("/api/jobs/delete", {"ids": [ids[4]]})["result"], 1)
        later = r.execute_command("JOB.PUSH", "jobs", job("Later"), "DELAY", "60000").decode()
        self.assertEqual(h.post("/api/jobs/run", {"ids": [later]})["result"], 1)
        self.assertEqual(as_map(r.execute_command("JOB.INFO", later))["state"], b"ready")
        self.assertEqual(h.post("/api/jobs/update", {"where": {"queue": "jobs"},
                                                     "set": {"run_at": 0}})["result"], 5)
        # Bad input gets a message, not a crash.
        self.assertEqual(h.post("/api/jobs/explode", {"ids": ids}, expect=404)["error"],
                         "no such job action (delete, move, update, run)")
        self.assertIn("'ids' (an array)", h.post("/api/jobs/delete", {}, expect=400)["error"])
        self.assertIn("non-empty array", h.post("/api/jobs/delete", {"ids": [1]}, expect=400)
                      ["error"])
        self.assertIn("'to'", h.post("/api/jobs/move", {"ids": ids}, expect=400)["error"])
        self.assertIn("'where' needs the 'queue'",
                      h.post("/api/jobs/delete", {"where": {}}, expect=400)["error"])
        self.assertIn("'set'", h.post("/api/jobs/update", {"ids": ids}, expect=400)["error"])
        self.assertIn("invalid job id", h.post("/api/jobs/delete", {"ids": ["zz"]}, expect=400)
                      ["error"])
        self.assertIsNone(h.get("/api/jobs/" + "0" * 16)["result"])

    def test_workers_kill_attach_detach_quiet_stop(self):
        h, r = self.http, self.r
        r.execute_command("WORKER.REGISTER", "w1", "HOST", "box", "QUEUES", "a", "ADAPTERS",
                          "command")
        jid = r.execute_command("JOB.PUSH", "a", json.dumps({"argv": ["sleep", "9"]})).decode()
        r.execute_command("JOB.FETCH", "w1")
        workers = h.get("/api/workers")["result"]
        w1 = next(w for w in workers if w["id"] == "w1")
        self.assertEqual((w1["kind"], w1["host"], w1["queues"]), ("native", "box", ["a"]))
        self.assertEqual(w1["jobs"][0]["id"], jid)
        h.post(f"/api/jobs/{jid}/kill")
        beat = as_map(r.execute_command("WORKER.HEARTBEAT", "w1"))
        self.assertEqual(beat["kill"], [jid.encode()])
        h.post("/api/workers/w1/attach", {"queues": ["b", "c"]})
        h.post("/api/workers/w1/detach", {"queues": ["a"]})
        w1 = next(w for w in h.get("/api/workers")["result"] if w["id"] == "w1")
        self.assertEqual(w1["queues"], ["b", "c"])
        h.post("/api/workers/w1/quiet")
        self.assertEqual(as_map(r.execute_command("WORKER.HEARTBEAT", "w1"))["quiet"], 1)
        self.assertEqual(next(w for w in h.get("/api/workers")["result"] if w["id"] == "w1")
                         ["quiet"], 1)
        h.post("/api/workers/w1/unquiet")
        self.assertEqual(as_map(r.execute_command("WORKER.HEARTBEAT", "w1"))["quiet"], 0)
        h.post("/api/workers/w1/stop")
        self.assertEqual(as_map(r.execute_command("WORKER.HEARTBEAT", "w1"))["stop"], 1)
        self.assertIn("'queues'", h.post("/api/workers/w1/attach", {"queues": "b"},
                                         expect=400)["error"])
        self.assertEqual(h.post("/api/workers/w1/dance", {}, expect=404)["error"],
                         "no such worker action (attach, detach, quiet, unquiet, stop)")
        self.assertIn("unknown worker 'ghost'", h.post("/api/workers/ghost/stop", expect=400)
                      ["error"])

    def test_failures_list_group_retry_remove(self):
        h, r = self.http, self.r
        for i in range(6):
            r.rpush("resque:failed", json.dumps({
                "queue": "billing" if i < 4 else "mail",
                "payload": {"class": "Charge" if i < 4 else "Send", "args": [i]},
                "exception": "Timeout", "error": f"took {1000 + i} ms", "backtrace": ["x.rb:1"],
                "worker": "host:1:billing", "failed_at": "2026/11/30 06:00:00 UTC"}))
        listed = h.get("/api/failed?state=all&queue=resque:queue:billing&limit=2")["result"]
        self.assertEqual(listed["total"], 4)
        self.assertEqual(len(listed["failures"]), 2)
        groups = h.get("/api/failed/groups?by=class&state=all")["result"]
        self.assertEqual({g["group"]: g["count"] for g in groups}, {"Charge": 4, "Send": 2})
        fps = h.get("/api/failed/groups?by=fingerprint&state=all")["result"]
        self.assertEqual(len(fps), 2)  # "took N ms" normalises to one message per class
        one = listed["failures"][0]["id"]
        self.assertEqual(h.get("/api/failed/" + one)["result"]["error"], "Timeout")
        self.assertEqual(h.post("/api/failed/cancel", {"ids": [one]})["result"], 1)
        self.assertEqual(h.get("/api/failed/" + one)["result"]["state"], "dead")
        retried = h.post("/api/failed/retry", {"where": {"class": "Send", "state": "all"}})
        self.assertEqual(retried["result"], 2)
        removed = h.post("/api/failed/remove", {"where": {"fingerprint": fps[0]["fingerprint"],
                                                          "state": "all"}})
        self.assertEqual(removed["result"], fps[0]["count"])
        # The dashboard's counts (FAILED.COUNTS) agree with searching each state.
        counts = h.get("/api/overview")["failed"]
        for state in ("retrying", "retried", "dead"):
            self.assertEqual(counts[state],
                             h.get(f"/api/failed?state={state}&limit=0")["result"]["total"], state)
        self.assertEqual(counts["total"], h.get("/api/failed?limit=0")["result"]["total"])
        self.assertEqual(counts["total"], 6 - fps[0]["count"])
        self.assertEqual(h.post("/api/failed/forget", {"ids": [one]}, expect=404)["error"],
                         "no such failure action (cancel, remove, retry)")
        self.assertIn("ATTEMPT", h.request("GET", "/api/failed?attempt_min=x")[2]["error"])

    def test_a_jobs_history_follows_its_retries(self):
        h, r = self.http, self.r
        r.execute_command("QUEUE.CREATE", "hist", "RETRY", "5")
        r.execute_command("WORKER.REGISTER", "wh", "QUEUES", "hist")
        first = r.execute_command("JOB.PUSH", "hist", job("Flaky")).decode()
        for attempt in range(3):
            # Each retry is the same job: the same id, run again.
            self.assertEqual(as_map(r.execute_command("JOB.FETCH", "wh"))["id"].decode(), first)
            r.execute_command("JOB.FAIL", first, "ERROR", "Boom", "MESSAGE", f"try {attempt}")
            r.execute_command("JOB.RUN", first)
        (record,) = h.get(f"/api/failed?job={first}&state=all")["result"]["failures"]
        self.assertEqual((record["job"], record["retry_job"], record["attempt"], record["message"]),
                         (first, first, 3, "try 2"))
        self.assertEqual([(a["attempt"], a["message"], a["worker"]) for a in record["history"]],
                         [(1, "try 0", "wh"), (2, "try 1", "wh")])
        self.assertEqual(h.get("/api/failed")["result"]["total"], 1)  # one job, one record
        self.assertIn("invalid job id", h.request("GET", "/api/failed?job=nope")[2]["error"])

    def test_schedules(self):
        h, r = self.http, self.r
        h.post("/api/schedules", {"name": "nightly", "cron": "0 3 * * *", "queue": "reports",
                                  "payload": {"class": "Nightly"}, "tz": "Europe/Berlin"})
        listed = h.get("/api/schedules")["result"]
        self.assertEqual([(s["name"], s["tz"], s["payload"]) for s in listed],
                         [("nightly", "Europe/Berlin", '{"class":"Nightly"}')])
        jid = h.post("/api/schedules/nightly/run")["result"]
        self.assertEqual(as_map(r.execute_command("JOB.INFO", jid))["class"], b"Nightly")
        self.assertIn("minute field", h.post("/api/schedules", {"name": "bad", "cron": "61 * * * *",
                                                                "queue": "x"}, expect=400)["error"])
        self.assertEqual(h.post("/api/schedules/nightly", method="DELETE")["result"], 1)
        self.assertEqual(h.get("/api/schedules")["result"], [])

    def test_overview_stats_and_the_live_event_stream(self):
        h, r = self.http, self.r
        r.rpush("resque:queue:live", job("A"))
        o = h.get("/api/overview")
        self.assertEqual([x["key"] for x in o["queues"]], ["resque:queue:live"])
        self.assertEqual(len(o["seconds"]["enqueued"]), 300)
        self.assertEqual(len(o["minutes"]["failed"]), 1440)
        self.assertEqual((o["node"]["redis_version"], o["node"]["desaster_version"]),
                         (r.info("server")["redis_version"], r.info("server")["desaster_version"]))
        self.assertEqual(set(o["failed"]), {"total", "retrying", "retried", "dead"})
        stats = h.get("/api/stats?range=minutes&count=10")["result"]
        self.assertEqual((stats["bucket_ms"], len(stats["dequeued"])), (60000, 10))
        self.assertIn("MINUTES must be", h.request("GET", "/api/stats?range=minutes&count=0")[2]
                      ["error"])

        sock, next_overview = h.events()
        first = next_overview()
        self.assertEqual(first["queues"][0]["ready"], 1)
        r.rpush("resque:queue:live", job("B"))
        wait_for(lambda: next_overview()["queues"][0]["ready"] == 2, what="a pushed event")
        sock.close()

    def test_static_files_and_no_path_traversal(self):
        h = self.http
        status, headers, body = h.request("GET", "/")
        self.assertEqual(status, 200)
        self.assertIn(b"<title>desaster</title>", body)
        self.assertIn("default-src 'self'", headers["Content-Security-Policy"])
        self.assertEqual(headers["X-Frame-Options"], "DENY")
        status, headers, _ = h.request("GET", "/app.js")
        self.assertEqual((status, headers["Content-Type"]), (200, "text/javascript; charset=utf-8"))
        for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/app.js/../../etc/passwd",
                     "//etc/passwd", "/index.html%00.js"):
            self.assertEqual(h.request("GET", path)[0], 404, path)
        self.assertEqual(h.request("POST", "/app.js", raw=b"")[0], 405)
        self.assertEqual(h.request("GET", "/api/nothing")[2]["error"], "no such endpoint")
        self.assertEqual(h.request("PUT", "/api/queues")[0], 405)

    def test_only_its_own_host_names_are_served(self):
        # A rebound DNS name pointing at 127.0.0.1 must not make another site same-origin.
        h = self.http
        for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example"):
            status, _, body = h.request("GET", "/api/session", headers={"Host": host})
            self.assertEqual(status, 403, host)
            self.assertIn("its own names only", body["error"])
        for host in ("127.0.0.1", f"127.0.0.1:{h.port}", f"localhost:{h.port}", "[::1]:80"):
            self.assertEqual(h.request("GET", "/", headers={"Host": host})[0], 200, host)

    def test_limits_and_garbage_leave_the_daemon_serving(self):
        h = self.http
        # A body over 1 MiB is refused when its length is announced.
        for garbage in (b"POST /api/queues HTTP/1.1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 1048577\r\n\r\n{",
                        b"\x00\x01\x02 nonsense\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                        b"GET / HTTP/1.1\r\n" + b"X-Long: " + b"y" * 70000 + b"\r\n\r\n"):
            s = socket.create_connection((h.host, h.port), timeout=10)
            s.sendall(garbage)
            reply = s.recv(200)
            s.close()
            self.assertRegex(reply, rb"^HTTP/1.1 (4\d\d|505) ")
            if b"Content-Length: 1048577" in garbage:
                self.assertTrue(reply.startswith(b"HTTP/1.1 413"), reply)
        self.assertTrue(h.get("/api/session")["authenticated"])
        # Keep-alive: two requests on one connection.
        conn = http.client.HTTPConnection(h.host, h.port, timeout=10)
        for _ in range(2):
            conn.request("GET", "/api/session")
            self.assertEqual(conn.getresponse().read()[:1], b"{")
        conn.close()


class WebLoginTest(ServerTest):
    def test_password_login_bearer_tokens_and_logout(self):
        web = Web(self.server.port, "--password", "s3cret")
        try:
            h = Http(web.url)
            s = h.get("/api/session")
            self.assertEqual((s["login_required"], s["authenticated"], s["csrf"]),
                             (True, False, ""))
            self.assertEqual(h.request("GET", "/api/queues")[0], 401)
            self.assertEqual(h.request("POST", "/api/login", {"password": "nope"})[0], 401)
            status, headers, body = h.request("POST", "/api/login", {"password": "s3cret"})
            self.assertEqual(status, 200)
            self.assertIn("HttpOnly", headers["Set-Cookie"])
            self.assertIn("SameSite=Strict", headers["Set-Cookie"])
            h.csrf = body["csrf"]
            self.assertEqual(h.get("/api/session")["csrf"], h.csrf)
            h.post("/api/queues", {"queue": "in"})
            # A logged-in browser still needs the CSRF token.
            self.assertEqual(h.request("POST", "/api/queues", {"queue": "x"})[0], 403)
            # API clients use the password as a bearer token, without CSRF.
            api = Http(web.url)
            status, _, _ = api.request("POST", "/api/queues", {"queue": "bearer"},
                                       {"Authorization": "Bearer s3cret"})
            self.assertEqual(status, 200)
            self.assertEqual(api.request("GET", "/api/queues",
                                         headers={"Authorization": "Bearer wrong"})[0], 401)
            h.post("/api/logout")
            self.assertEqual(h.request("GET", "/api/queues")[0], 401)
            self.assertEqual(sorted(self.r.execute_command("QUEUE.LIST")), [b"bearer", b"in"])
        finally:
            web.stop()

    def test_sessions_end_after_their_time(self):
        web = Web(self.server.port, "--password", "s3cret", "--session-hours", str(2 / 3600))
        try:
            h = Http(web.url)
            status, headers, _ = h.request("POST", "/api/login", {"password": "s3cret"})
            self.assertEqual(status, 200)
            self.assertIn("Max-Age=2", headers["Set-Cookie"])
            self.assertEqual(h.request("GET", "/api/queues")[0], 200)
            wait_for(lambda: h.request("GET", "/api/queues")[0] == 401,
                     what="the session to expire")
            self.assertFalse(h.get("/api/session")["authenticated"])
        finally:
            web.stop()

    def test_wrong_passwords_make_the_client_wait(self):
        web = Web(self.server.port, "--password", "s3cret")
        try:
            h = Http(web.url)
            login = lambda password: h.request("POST", "/api/login", {"password": password})
            # Five free guesses, as login or as bearer tokens alike.
            for _ in range(3):
                self.assertEqual(login("guess")[0], 401)
            for _ in range(2):
                self.assertEqual(h.request("GET", "/api/queues",
                                           headers={"Authorization": "Bearer guess"})[0], 401)
            # Then even the right password waits, and says how long.
            status, headers, body = login("s3cret")
            self.assertEqual(status, 429)
            self.assertEqual(headers["Retry-After"], "1")
            self.assertIn("too many wrong passwords", body["error"])
            self.assertEqual(h.request("GET", "/api/queues",
                                       headers={"Authorization": "Bearer s3cret"})[0], 429)
            # The wait ends; a wrong guess then doubles it, and a right password ends it all.
            wait_for(lambda: login("guess")[0] == 401, what="the first wait to end")
            status, headers, _ = login("s3cret")
            self.assertEqual((status, headers["Retry-After"]), (429, "2"))
            status = wait_for(lambda: (lambda s: s if s != 429 else None)(login("s3cret")[0]),
                              what="the second wait to end")
            self.assertEqual(status, 200)
            self.assertEqual(login("guess")[0], 401)  # forgotten: free guesses again
            self.assertNotIn("Secure", login("s3cret")[1]["Set-Cookie"])  # plain HTTP
        finally:
            web.stop()

    def test_people_log_in_as_acl_users_and_act_as_them(self):
        self.r.execute_command("ACL", "SETUSER", "viewer", "on", ">view", "~*", "&*", "+@read",
                               "+@connection")
        self.r.execute_command("ACL", "SETUSER", "operator", "on", ">op", "~*", "&*", "+@all")
        self.r.execute_command("ACL", "SETUSER", "mailer", "on", ">mail", "~mail*", "&*",
                               "+@read", "+@connection")
        self.r.execute_command("QUEUE.CREATE", "mail")
        self.r.execute_command("QUEUE.CREATE", "billing")
        web = Web(self.server.port, "--users")
        try:
            viewer, operator = Http(web.url), Http(web.url)
            s = viewer.get("/api/session")
            self.assertEqual((s["users"], s["login_required"], s["authenticated"]),
                             (True, True, False))
            status, _, body = viewer.request("POST", "/api/login", {"user": "viewer",
                                                                    "password": "wrong"})
            self.assertEqual((status, body["error"]), (401, "wrong user name or password"))
            status, headers, body = viewer.request("POST", "/api/login", {"user": "viewer",
                                                                          "password": "view"})
            self.assertEqual(status, 200)
            viewer.csrf = body["csrf"]
            # The UI learns what the user may not do; reading works.
            self.assertEqual(body["user"], "viewer")
            self.assertIn("queue.pause", body["denied"])
            self.assertIn("failed.retry", body["denied"])
            self.assertEqual([q["key"] for q in viewer.get("/api/queues")["result"]],
                             ["billing", "mail"])
            self.assertEqual(viewer.get("/api/session")["denied"], body["denied"])
            # Acting is refused by the scheduler itself, as the user's own.
            status, _, body = viewer.request("POST", "/api/queues/mail/pause", {},
                                             {"X-CSRF-Token": viewer.csrf})
            self.assertEqual(status, 403)
            self.assertIn("NOPERM", body["error"])
            op = operator.request("POST", "/api/login", {"user": "operator", "password": "op"})[2]
            operator.csrf = op["csrf"]
            self.assertEqual(op["denied"], [])
            operator.post("/api/queues/mail/pause")
            self.assertEqual(as_map(self.r.execute_command("QUEUE.CONFIG", "mail"))["paused"], 1)
            users = lambda: sorted(c["user"] for c in self.r.client_list()
                                   if c["user"] in ("viewer", "operator"))
            self.assertEqual(users(), ["operator", "viewer"])
            # A user limited to some keys sees only those, in pages and in the live stream.
            mailer = Http(web.url)
            mailer.request("POST", "/api/login", {"user": "mailer", "password": "mail"})
            self.assertEqual([q["key"] for q in mailer.get("/api/queues")["result"]], ["mail"])
            sock, next_overview = mailer.events()
            self.assertEqual([q["key"] for q in next_overview()["queues"]], ["mail"])
            sock.close()
            sock, next_overview = viewer.events()
            self.assertEqual([q["key"] for q in next_overview()["queues"]], ["billing", "mail"])
            sock.close()
            # Logging out closes the session's connection.
            viewer.post("/api/logout")
            wait_for(lambda: users() == ["operator"], what="the viewer's connection to close")
            self.assertEqual(viewer.request("GET", "/api/queues")[0], 401)
            # A user whose connection the scheduler dropped logs in again.
            self.r.execute_command("ACL", "DELUSER", "operator")
            wait_for(lambda: operator.request("GET", "/api/queues")[0] == 401,
                     what="the removed user's session to end")
        finally:
            web.stop()

    def test_scheduler_auth_is_passed_through_and_a_missing_scheduler_is_a_503(self):
        locked = Scheduler("--requirepass", "pw")
        try:
            with_pw = Web(locked.port, "--scheduler-password", "pw")
            without = Web(locked.port)
            try:
                wait_for(lambda: Http(with_pw.url).request("GET", "/api/queues")[0] == 200,
                         what="the web daemon to connect")
                self.assertIn("NOAUTH", Http(without.url).request("GET", "/api/queues")[2]["error"])
                locked.stop()
                status, _, body = Http(with_pw.url).request("GET", "/api/queues")
                self.assertEqual((status, body["error"]), (503, "the scheduler is not reachable"))
                # The live stream says so too, as an "error" event.
                h = Http(with_pw.url)
                sock = socket.create_connection((h.host, h.port), timeout=10)
                sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                stream = sock.makefile("rb")
                lines = iter(stream.readline, b"")
                self.assertIn(b"event: error\n", lines)
                self.assertEqual(json.loads(next(lines)[6:]),
                                 {"error": "the scheduler is not reachable"})
                sock.close()
            finally:
                with_pw.stop()
                without.stop()
        finally:
            locked.stop()


if __name__ == "__main__":
    main()

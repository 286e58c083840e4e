"""``forkserver``: a session's process that forks the others of its configuration.

The server is a child ``python`` of its own, set up as the host sets one up: 3 and 4
on pipes, 5 on an in-memory file, 6 on a Unix seqpacket socket. It runs its startup
code, is asked to serve forks, and forks sessions that are then spoken to over pipes
of their own, as the host does.
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

from . import support
from .test_worker import frame, read_frame
from pysession_runtime import forkserver

SERVER = """
import os, sys
for src, dst in zip(sys.argv[1:5], (3, 4, 5, 6)):
    os.dup2(int(src), dst)
sys.path.insert(0, sys.argv[5])
from tests import support
from pysession_runtime import worker
worker.main("tok")
"""


def state_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


class Unsafe(unittest.TestCase):
    def test_a_python_thread_left_running_is_named(self):
        stop = threading.Event()
        t = threading.Thread(target=stop.wait, name="lingering", daemon=True)
        t.start()
        try:
            why = forkserver.unsafe()
        finally:
            stop.set()
            t.join()
        self.assertIn("lingering", why)
        self.assertIn("threads", why)


class Server(unittest.TestCase):
    def setUp(self):
        requests_r, self.requests = os.pipe()
        self.replies, replies_w = os.pipe()
        stops = os.memfd_create("stops")
        self.control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        passed = (requests_r, replies_w, stops, theirs.fileno())
        self.server = subprocess.Popen(
            [sys.executable, "-c", SERVER, *map(str, passed), support.PYTHON_DIR],
            pass_fds=passed,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for fd in (requests_r, replies_w, stops):
            os.close(fd)
        theirs.close()
        self.children = []
        self.addCleanup(self.end)

    def end(self):
        for pid in self.children:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        for fd in (self.requests, self.replies):
            os.close(fd)
        self.control.close()
        if self.server.poll() is None:
            self.server.kill()
        self.server.communicate()

    def request(self, obj):
        os.write(self.requests, frame(obj))
        return json.loads(read_frame(self.replies))

    def ask(self, obj, fds=()):
        socket.send_fds(self.control, [json.dumps(obj).encode()], list(fds))
        return json.loads(self.control.recv(65536))

    def fork(self):
        """A forked session: its pid and the host's ends of its pipes."""
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stops = os.memfd_create("stops")
        os.pwrite(stops, bytes(8), 0)
        theirs = (req_r, rep_w, stops, out_w, err_w)
        answer = self.ask({"op": "fork", "token": "kid", "cpu": None}, theirs)
        for fd in theirs:
            os.close(fd)
        self.assertIn("pid", answer, answer)
        self.children.append(answer["pid"])
        self.addCleanup(lambda: [os.close(fd) for fd in (req_w, rep_r, out_r, err_r)])
        return answer["pid"], req_w, rep_r

    def serving(self, startup):
        self.assertEqual(self.request({"id": 1, "op": "run", "code": startup})["status"], "ok")
        return self.request({"id": 2, "op": "serve_forks"})

    def test_forked_sessions_start_from_the_startup_state_each_its_own(self):
        self.assertEqual(self.serving("import os\nboot = os.getpid()")["status"], "ok")
        sessions = [self.fork(), self.fork()]
        for pid, requests, replies in sessions:
            os.write(requests, frame({"id": 5, "op": "run", "code": "(boot, os.getppid(), os.getpid(), os.getpgid(0))"}))
            reply = json.loads(read_frame(replies))
            self.assertEqual(reply["status"], "ok", reply)
            boot, parent, me, group = eval(reply["value"])
            self.assertEqual((boot, parent), (self.server.pid, self.server.pid))
            self.assertEqual((me, group), (pid, pid))
        # State is each one's own.
        (_, req_a, rep_a), (_, req_b, rep_b) = sessions
        os.write(req_a, frame({"id": 6, "op": "run", "code": "mine = 1"}))
        read_frame(rep_a)
        os.write(req_b, frame({"id": 6, "op": "run", "code": "mine"}))
        self.assertEqual(json.loads(read_frame(rep_b))["error"][0], "NameError")

    def test_a_child_is_reaped_only_when_asked_and_once(self):
        self.serving("pass")
        pid, requests, replies = self.fork()
        os.write(requests, frame({"id": 5, "op": "run", "code": "import os\nos._exit(3)"}))
        # Its end closes its replies; it stays a zombie until the host asks.
        self.assertEqual(os.read(replies, 1), b"")
        deadline = time.monotonic() + 10
        while state_of(pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(state_of(pid), "Z")
        self.assertEqual(self.ask({"op": "reap", "pid": pid}), {"code": 3})
        self.assertEqual(self.ask({"op": "reap", "pid": pid}), {"gone": True})

    def test_a_reap_of_a_child_still_running_is_refused_and_leaves_it_running(self):
        self.serving("pass")
        pid, requests, replies = self.fork()
        self.assertIn("error", self.ask({"op": "reap", "pid": pid}))
        os.write(requests, frame({"id": 5, "op": "run", "code": "1 + 1"}))
        self.assertEqual(json.loads(read_frame(replies))["value"], "2")

    def test_a_bad_request_is_answered_and_the_server_goes_on(self):
        self.serving("pass")
        self.assertIn("error", self.ask({"op": "fork", "token": "t"}))
        self.assertIn("error", self.ask({"op": "nothing"}))
        self.fork()

    def test_a_server_with_a_thread_running_refuses_and_stays_a_session(self):
        reply = self.serving("import threading\nt = threading.Thread(target=__import__('time').sleep, args=(60,), name='reader', daemon=True)\nt.start()")
        self.assertEqual(reply["status"], "error")
        self.assertEqual(reply["error"][0], "ForkUnsafe")
        self.assertIn("reader", reply["error"][1])
        self.assertEqual(self.request({"id": 3, "op": "run", "code": "1 + 1"})["value"], "2")

    def test_the_server_ends_when_the_host_closes_its_socket(self):
        self.serving("pass")
        pid, requests, replies = self.fork()
        self.control.close()
        self.assertEqual(self.server.wait(timeout=30), 0)
        # Its session lives on.
        os.write(requests, frame({"id": 5, "op": "run", "code": "1 + 1"}))
        self.assertEqual(json.loads(read_frame(replies))["value"], "2")


if __name__ == "__main__":
    unittest.main()

"""``worker``: a subprocess session's child, its frames and its loop.

The loop is tested in a child ``python`` of its own, with its descriptors 3 and 4 on
pipes and 5 on an in-memory file, as the host sets them up; the modules come from
disk, configured by ``support``.
"""

import json
import os
import select
import signal
import subprocess
import sys
import unittest

from . import support
from pysession_runtime import worker

CHILD = """
import os, sys
os.dup2(int(sys.argv[1]), 3)
os.dup2(int(sys.argv[2]), 4)
os.dup2(int(sys.argv[3]), 5)
sys.path.insert(0, sys.argv[4])
from tests import support
from pysession_runtime import worker
worker.main("tok")
"""


def frame(obj):
    body = json.dumps(obj).encode()
    return len(body).to_bytes(4, "little") + body


def read_exactly(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            raise EOFError("the child closed its replies")
        data += chunk
    return data


def read_frame(fd):
    return read_exactly(fd, int.from_bytes(read_exactly(fd, 4), "little"))


class Frames(unittest.TestCase):
    def setUp(self):
        self.requests_r, self.requests_w = os.pipe()
        self.replies_r, self.replies_w = os.pipe()
        saved = (worker._REQUESTS, worker._REPLIES)
        worker._REQUESTS, worker._REPLIES = self.requests_r, self.replies_w

        def close():
            worker._REQUESTS, worker._REPLIES = saved
            for fd in (self.requests_r, self.requests_w, self.replies_r, self.replies_w):
                os.close(fd)
            support.configure()

        self.addCleanup(close)

    def test_a_request_and_its_blobs_are_read(self):
        os.write(self.requests_w, frame({"id": 1, "blobs": 2}) + b"\x01\x00\x00\x00a" + b"\x00\x00\x00\x00")
        self.assertEqual(worker.read_frame(), ({"id": 1, "blobs": 2}, [b"a", b""]))
        os.close(self.requests_w)
        self.requests_w = os.open(os.devnull, os.O_WRONLY)
        self.assertIsNone(worker.read_frame())

    def test_a_reply_is_one_frame_and_its_blobs_follow(self):
        worker.write_frame({"id": 2, "text": "é"}, [b"\x89PNG"])
        self.assertEqual(json.loads(read_frame(self.replies_r)), {"id": 2, "text": "é"})
        self.assertEqual(read_frame(self.replies_r), b"\x89PNG")

    def test_a_frame_over_the_hosts_limit_is_not_written_at_all(self):
        support.configure(max_frame=64)
        with self.assertRaises(worker.FrameTooLarge):
            worker.write_frame({"id": 3}, [b"x" * 65])
        worker.write_frame({"id": 4})
        self.assertEqual(json.loads(read_frame(self.replies_r)), {"id": 4})

    def test_a_display_sends_binary_data_as_blobs(self):
        wire = worker._WireCapture()
        wire.request = 9
        wire.display([("image/png", b"png"), ("text/plain", "a\udc80")], True)
        head = json.loads(read_frame(self.replies_r))
        self.assertEqual(head, {"id": 9, "display": [["image/png", {"blob": 0}], ["text/plain", "a\ufffd"]], "is_value": True, "blobs": 1})
        self.assertEqual(read_frame(self.replies_r), b"png")


class Loop(unittest.TestCase):
    def setUp(self):
        requests_r, self.requests = os.pipe()
        self.replies, replies_w = os.pipe()
        self.stops = os.memfd_create("stops")
        os.pwrite(self.stops, bytes(8), 0)
        args = [str(requests_r), str(replies_w), str(self.stops), support.PYTHON_DIR]
        self.child = subprocess.Popen(
            [sys.executable, "-c", CHILD, *args],
            pass_fds=(requests_r, replies_w, self.stops),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.close(requests_r)
        os.close(replies_w)
        self.addCleanup(self.end)

    def end(self):
        for fd in (self.requests, self.replies, self.stops):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.child.poll() is None:
            self.child.kill()
        self.child.communicate()

    def stop(self, ident):
        """As the host stops request ``ident``: its id in the slot, then SIGINT."""
        os.pwrite(self.stops, ident.to_bytes(8, "little"), 0)
        self.child.send_signal(signal.SIGINT)

    def request(self, obj):
        os.write(self.requests, frame(obj))
        return json.loads(read_frame(self.replies))

    def test_a_run_is_marked_on_both_streams_and_answered(self):
        reply = self.request({"id": 1, "op": "run", "code": "print('hi')\n6 * 7"})
        self.assertEqual(reply, {"id": 1, "status": "ok", "value": "42", "error": None})
        os.close(self.requests)
        out, err = self.child.communicate(timeout=30)
        self.assertEqual(out, b"\0pysession:tok:start:1\0hi\n\0pysession:tok:end:1\0")
        self.assertEqual(err, b"\0pysession:tok:start:1\0\0pysession:tok:end:1\0")
        self.assertEqual(self.child.returncode, 0)

    def test_state_lasts_and_variables_are_data_requests(self):
        self.request({"id": 1, "op": "run", "code": "x = [1, 2]"})
        reply = self.request({"id": 2, "op": "data", "data_op": "get", "name": "x", "arg": ""})
        self.assertEqual(reply, {"id": 2, "status": "ok", "value": "[1, 2]", "error": None})

    def test_displays_come_before_the_reply_and_input_fails(self):
        os.write(self.requests, frame({"id": 3, "op": "run", "code": "display({'text/html': '<b>'}, raw=True)\ninput()"}))
        shown = json.loads(read_frame(self.replies))
        self.assertEqual(shown, {"id": 3, "display": [["text/html", "<b>"]], "is_value": False, "blobs": 0})
        reply = json.loads(read_frame(self.replies))
        self.assertEqual((reply["status"], reply["error"][0]), ("error", "EOFError"))

    def test_a_long_value_is_cut_to_the_limit_in_the_child(self):
        reply = self.request({"id": 4, "op": "run", "code": "'x' * 1000", "limit": 100})
        self.assertIn("characters of the value cut here", reply["value"])
        self.assertLess(len(reply["value"]), 200)

    def test_a_long_exception_text_is_cut_to_the_limit_in_the_child(self):
        reply = self.request({"id": 4, "op": "run", "code": "raise ValueError('x' * 100_000)", "limit": 100})
        type_name, message, tb = reply["error"]
        self.assertEqual(type_name, "ValueError")
        self.assertIn("characters of the message cut here", message)
        self.assertIn("characters of the traceback cut here", tb)
        self.assertLess(len(message) + len(tb), 500)

    def test_sigint_stops_a_busy_loop_and_the_session_goes_on(self):
        os.write(self.requests, frame({"id": 5, "op": "run", "code": "while True:\n    pass"}))
        # Wait for the start marker, then interrupt.
        marker = b"\0pysession:tok:start:5\0"
        seen = b""
        while marker not in seen:
            seen += os.read(self.child.stdout.fileno(), 100)
        # As the host does: again every 50 ms until the reply comes.
        for _ in range(200):
            self.stop(5)
            if select.select([self.replies], [], [], 0.05)[0]:
                break
        reply = json.loads(read_frame(self.replies))
        self.assertEqual(reply["status"], "stopped")
        self.assertEqual(self.request({"id": 6, "op": "run", "code": "1 + 1"})["value"], "2")

    def test_a_stop_that_comes_before_its_request_is_kept_for_it(self):
        self.assertEqual(self.request({"id": 1, "op": "run", "code": "ran = False"})["status"], "ok")
        # The stop for request 2 while the worker still waits for it: the request
        # stops as it starts, before any of its code ran.
        self.stop(2)
        reply = self.request({"id": 2, "op": "run", "code": "ran = True\nwhile True: pass"})
        self.assertEqual(reply["status"], "stopped")
        self.assertEqual(self.request({"id": 3, "op": "run", "code": "ran"})["value"], "False")

    def test_a_late_stop_for_an_earlier_request_does_not_land_in_the_next(self):
        self.assertEqual(self.request({"id": 1, "op": "run", "code": "x = 1"})["status"], "ok")
        self.stop(1)
        reply = self.request({"id": 2, "op": "run", "code": "import time\ntime.sleep(0.2)\nx = 2"})
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(self.request({"id": 3, "op": "run", "code": "x"})["value"], "2")


if __name__ == "__main__":
    unittest.main()

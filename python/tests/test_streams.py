"""``streams``: session output routed by thread, an empty stdin, streams kept."""

import io
import os
import sys
import threading
import unittest

from . import support
from pysession_runtime import ownership, streams


class Routing(unittest.TestCase):
    def setUp(self):
        self.state = support.Owner()
        self.host = io.StringIO()
        self.out = streams.SessionStream(1, self.host, "<stdout>")
        self.addCleanup(ownership.unbind_thread)

    def test_a_sessions_writes_go_to_its_capture_with_the_stream(self):
        ownership.bind_thread(self.state)
        self.assertEqual(self.out.write("hi\n"), 3)
        self.out.buffer.write(b"\xff")
        self.assertEqual(self.state.capture.writes, [(1, "hi\n", None), (1, b"\xff", None)])
        self.assertEqual(self.host.getvalue(), "")

    def test_a_thread_started_by_a_run_writes_as_that_run(self):
        ownership.run_owned((self.state, 7), lambda: self.out.write("late"))
        self.assertEqual(self.state.capture.writes, [(1, "late", 7)])

    def test_threads_no_session_owns_write_to_the_hosts_stream(self):
        ownership.bind_thread(self.state)
        t = threading.Thread(target=lambda: self.out.write("host\n"))
        t.start()
        t.join()
        self.assertEqual(self.host.getvalue(), "host\n")
        self.assertEqual(self.state.capture.writes, [])

    def test_writing_what_is_not_text_is_a_type_error(self):
        ownership.bind_thread(self.state)
        with self.assertRaisesRegex(TypeError, "must be str, not int"):
            self.out.write(3)

    def test_closing_changes_nothing_and_there_is_no_descriptor(self):
        self.out.close()
        self.assertFalse(self.out.closed)
        with self.assertRaises(io.UnsupportedOperation):
            self.out.fileno()


class Stdin(unittest.TestCase):
    def tearDown(self):
        ownership.unbind_thread()

    def test_empty_stdin_reads_nothing_and_survives_close(self):
        stdin = streams.NoStdin()
        stdin.close()
        self.assertEqual(stdin.read(), "")
        self.assertEqual(stdin.readline(), "")

    def test_sessions_read_nothing_and_the_host_reads_its_own(self):
        stdin = streams.NoStdin(io.StringIO("host line\n"))
        ownership.bind_thread(support.Owner())
        self.assertEqual(stdin.readline(), "")
        ownership.unbind_thread()
        self.assertEqual(stdin.readline(), "host line\n")


class Restore(unittest.TestCase):
    def setUp(self):
        saved = (sys.stdout, sys.stderr, sys.stdin, streams._installed)

        def put_back():
            sys.stdout, sys.stderr, sys.stdin, streams._installed = saved

        self.addCleanup(put_back)

    def test_routing_streams_come_back_after_code_replaced_them(self):
        streams.route_by_thread()
        routing = sys.stdout
        self.assertIsInstance(routing, streams.SessionStream)
        sys.stdout = io.StringIO()
        sys.stdin = io.StringIO("x")
        streams.restore()
        self.assertIs(sys.stdout, routing)
        self.assertIsInstance(sys.stdin, streams.NoStdin)

    def test_descriptor_streams_come_back_and_a_closed_one_is_remade(self):
        original = io.StringIO()
        sys.stdout = original
        streams.use_descriptors()
        sys.stdout = io.StringIO()
        streams.restore()
        self.assertIs(sys.stdout, original)
        original.close()
        streams.restore()
        self.assertIsNot(sys.stdout, original)
        self.assertEqual(sys.stdout.fileno(), 1)
        self.assertFalse(sys.stdout.closed)

    def test_nothing_installed_restores_nothing(self):
        streams._installed = None
        mine = io.StringIO()
        sys.stdout = mine
        streams.restore()
        self.assertIs(sys.stdout, mine)


if __name__ == "__main__":
    unittest.main()

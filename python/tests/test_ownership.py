"""``ownership``: which session a thread belongs to, and the stop exception."""

import threading
import unittest

from . import support
from pysession_runtime import ownership


def in_new_thread(function):
    out = []
    t = threading.Thread(target=lambda: out.append(function()))
    # The plain start: these tests do not install the thread-start hook.
    t.start()
    t.join()
    return out[0]


class Ownership(unittest.TestCase):
    def setUp(self):
        self.state = support.Owner()
        self.addCleanup(ownership.unbind_thread)
        self.addCleanup(ownership.own_process, None)

    def test_a_bound_thread_is_its_sessions_with_its_control(self):
        self.assertIsNone(ownership.owner())
        ownership.bind_thread(self.state)
        self.assertEqual(ownership.owner(), (self.state, None))
        self.assertIs(ownership.control(), self.state.control)
        self.assertEqual(ownership.owner_of(threading.get_ident()), (self.state, None))
        # Other threads are not.
        self.assertIsNone(in_new_thread(ownership.owner))
        ownership.unbind_thread()
        self.assertIsNone(ownership.owner())
        self.assertIsNone(ownership.control())

    def test_the_one_session_of_a_process_owns_every_thread_but_controls_none(self):
        ownership.own_process(self.state)
        self.assertEqual(ownership.owner(), (self.state, None))
        self.assertEqual(in_new_thread(ownership.owner), (self.state, None))
        self.assertIsNone(ownership.control())
        # A thread bound to another session is still that one's.
        other = support.Owner()
        ownership.bind_thread(other)
        self.assertEqual(ownership.owner(), (other, None))

    def test_run_owned_owns_the_thread_only_while_the_function_runs(self):
        who = (self.state, 4)

        def body():
            self.assertEqual(ownership.owner(), who)
            raise RuntimeError("out")

        with self.assertRaises(RuntimeError):
            ownership.run_owned(who, body)
        self.assertIsNone(ownership.owner())


class Stop(unittest.TestCase):
    def tearDown(self):
        ownership.unbind_thread()

    def test_the_stop_is_not_an_exception(self):
        self.assertTrue(issubclass(ownership.StopExecution, BaseException))
        self.assertFalse(issubclass(ownership.StopExecution, Exception))

    def test_a_stop_made_in_a_thread_being_stopped_arms_its_tracing(self):
        state = support.Owner(control=support.Control(stopping=True))
        ownership.bind_thread(state)
        ownership.StopExecution()
        self.assertEqual(state.control.calls, [("arm",)])

    def test_a_stop_made_elsewhere_arms_nothing(self):
        calm = support.Owner(control=support.Control(stopping=False))
        ownership.bind_thread(calm)
        ownership.StopExecution()
        self.assertEqual(calm.control.calls, [])


if __name__ == "__main__":
    unittest.main()

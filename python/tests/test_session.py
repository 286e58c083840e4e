"""``session``: one session's state, and the names the embedded host calls."""

import linecache
import pathlib
import unittest

from . import support
from pysession_runtime import ownership, session


class Session(unittest.TestCase):
    def setUp(self):
        self.capture = support.Recorder()
        self.state = session.new_session(self.capture, support.Control())
        self.addCleanup(self.state.close)

    def run_cell(self, code):
        return self.state.run(code)

    def test_stop_exception_gives_stopped_with_where_the_code_was(self):
        self.state.ns["StopNow"] = session.StopExecution
        status, _, (_, _, stack) = self.run_cell("def spin():\n    raise StopNow()\nspin()")
        self.assertEqual(status, "stopped")
        self.assertIn("spin", stack)
        self.assertNotIn("pysession-runtime", stack)
        self.assertNotIn(support.PACKAGE_DIR, stack)
        # The stop has arrived: the host is told to raise no more.
        self.assertEqual(self.state.control.calls, [("settle",)])

    def test_reset_forgets_names(self):
        self.run_cell("gone = 1")
        self.state.reset()
        self.assertEqual(self.run_cell("gone")[2][0], "NameError")

    def test_close_empties_the_namespace_and_forgets_the_sources(self):
        self.run_cell("kept = 1")
        names = list(self.state.filenames)
        self.assertTrue(names and all(n in linecache.cache for n in names))
        self.state.close()
        self.assertEqual(self.state.ns, {})
        self.assertFalse(any(n in linecache.cache for n in names))
        self.assertEqual(self.state.source_bytes, 0)

    def test_a_fresh_namespace_is_a_main_module(self):
        self.assertEqual(self.run_cell("__name__")[1], "'__main__'")
        self.assertEqual(self.run_cell("print")[1], "<built-in function print>")

    def test_data_works_on_the_sessions_namespace(self):
        self.assertEqual(self.state.data("set", "v", "[1]"), ("ok", None, None))
        self.assertEqual(self.run_cell("v + [2]")[1], "[1, 2]")

    def test_display_and_the_value_bundle_reach_the_capture_in_order(self):
        class H:
            def _repr_html_(self):
                return "<h>"

        from pysession_runtime import display

        display.install()
        ownership.bind_thread(self.state)
        self.addCleanup(ownership.unbind_thread)
        self.state.ns["H"] = H
        self.assertEqual(self.state.run("display(H(), 'x')\nH()")[0], "ok")
        shown = self.capture.displays
        self.assertEqual([d[0].get("text/html") for d in shown], ["<h>", None, "<h>"])
        self.assertEqual([d[1] for d in shown], [False, False, True])

    def test_paths_of_an_environment_become_text(self):
        env = {"executable": pathlib.Path("/v/bin/python"), "prefix": pathlib.Path("/v"), "site_packages": [pathlib.Path("/v/site")]}
        state = session.new_session(None, support.Control(), env)
        self.assertEqual(state.environment, {"executable": "/v/bin/python", "prefix": "/v", "site_packages": ["/v/site"]})

    def test_the_host_finds_every_name_it_calls(self):
        for name in ("install", "new_session", "bind_thread", "unbind_thread", "StopExecution",
                     "absorb_pending_stop", "wake_loop", "add_site_dir"):
            self.assertTrue(callable(getattr(session, name)), name)


if __name__ == "__main__":
    unittest.main()

"""``hooks``: input, sleep, chdir, thread start and ``sys`` made to know sessions."""

import os
import sys
import tempfile
import threading
import unittest

from . import support
from pysession_runtime import hooks, ownership, session


class Hooks(unittest.TestCase):
    def setUp(self):
        self.state = support.Owner(control=support.Control(run=5))
        self.addCleanup(ownership.unbind_thread)

    def test_input_fails_at_once_in_a_session_and_is_the_hosts_elsewhere(self):
        ownership.bind_thread(self.state)
        with self.assertRaisesRegex(EOFError, "no standard input"):
            hooks.session_input("? ")
        ownership.unbind_thread()
        saved = hooks._original_input
        hooks._original_input = lambda prompt: "typed after " + prompt
        try:
            self.assertEqual(hooks.session_input("? "), "typed after ? ")
        finally:
            hooks._original_input = saved

    def test_sleep_in_a_session_worker_is_the_controls(self):
        ownership.bind_thread(self.state)
        hooks._sleep(30)
        self.assertEqual(self.state.control.calls, [("sleep", 30)])

    def test_chdir_in_a_session_is_remembered_for_its_next_runs(self):
        here = os.getcwd()
        self.addCleanup(os.chdir, here)
        with tempfile.TemporaryDirectory() as there:
            ownership.bind_thread(self.state)
            hooks._chdir(there)
            self.assertEqual(self.state.control.calls, [("moved_to", os.getcwd())])
            self.assertEqual(os.path.realpath(os.getcwd()), os.path.realpath(there))
            os.chdir(here)

    def test_a_thread_a_session_starts_is_the_sessions_and_of_the_current_run(self):
        ownership.bind_thread(self.state)
        seen = []
        t = threading.Thread(target=lambda: seen.append(ownership.owner()))
        hooks._owning(threading.Thread.start)(t)
        t.join()
        self.assertEqual(seen, [(self.state, 5)])

    def test_a_thread_the_host_starts_stays_the_hosts(self):
        seen = []
        t = threading.Thread(target=lambda: seen.append(ownership.owner()))
        hooks._owning(threading.Thread.start)(t)
        t.join()
        self.assertEqual(seen, [None])

    def test_a_module_imported_again_or_reloaded_is_hooked_again(self):
        import importlib
        import types

        calls = []
        saved = dict(hooks._MODULE_HOOKS)
        self.addCleanup(hooks._MODULE_HOOKS.update, saved)
        hooks._MODULE_HOOKS["json.tool"] = lambda m: calls.append(m)
        finder = hooks._HookingFinder()
        sys.meta_path.insert(0, finder)
        self.addCleanup(sys.meta_path.remove, finder)
        sys.modules.pop("json.tool", None)
        self.addCleanup(sys.modules.pop, "json.tool", None)
        import json.tool as first

        importlib.reload(first)
        self.assertEqual(calls, [first, first])
        self.assertIsInstance(first, types.ModuleType)

    def test_thread_start_is_wrapped_once(self):
        once = hooks._owning(threading.Thread.start)
        self.assertIs(hooks._owning(once), once)

    def test_the_working_directory_is_importable_once(self):
        saved = list(sys.path)
        self.addCleanup(sys.path.__setitem__, slice(None), saved)
        sys.path[:] = [p for p in sys.path if p != ""]
        hooks.import_from_working_directory()
        hooks.import_from_working_directory()
        self.assertEqual(sys.path.count(""), 1)
        self.assertEqual(sys.path[0], "")

    def test_a_site_dir_goes_before_the_installations_site_packages(self):
        saved = list(sys.path)
        self.addCleanup(sys.path.__setitem__, slice(None), saved)
        with tempfile.TemporaryDirectory() as venv_site:
            sys.path[:] = ["", "/usr/lib/python3.11", "/usr/lib/python3/dist-packages"]
            hooks.add_site_dir(venv_site)
            self.assertEqual(sys.path, ["", "/usr/lib/python3.11", venv_site, "/usr/lib/python3/dist-packages"])


class SessionPython(unittest.TestCase):
    """``sys.executable`` and ``sys.prefix`` per session, and the ``info`` operation."""

    def setUp(self):
        self.saved = (type(sys), dict((k, sys.__dict__[k]) for k in ("executable", "_base_executable")))
        hooks.set_executable(sys.executable)
        env = {"executable": "/venv/bin/python", "prefix": "/venv", "site_packages": ["/venv/lib/site"]}
        self.plain = session.new_session(None, support.Control())
        self.in_venv = session.new_session(None, support.Control(), env)

    def tearDown(self):
        ownership.unbind_thread()
        cls, values = self.saved
        sys.__class__ = cls
        sys.__dict__.update(values)

    def test_a_session_in_an_environment_sees_its_python_and_prefix(self):
        ownership.bind_thread(self.in_venv)
        self.assertEqual(sys.executable, "/venv/bin/python")
        self.assertEqual(sys.prefix, "/venv")
        self.assertEqual(sys.exec_prefix, "/venv")
        self.assertEqual(sys._base_executable, self.saved[1]["executable"])

    def test_other_sessions_and_unowned_threads_see_the_process_values(self):
        ownership.bind_thread(self.plain)
        self.assertEqual(sys.executable, self.saved[1]["executable"])
        self.assertEqual(sys.prefix, sys.__dict__["prefix"])
        ownership.unbind_thread()
        self.assertEqual(sys.executable, self.saved[1]["executable"])

    def test_setting_sys_executable_in_an_environment_session_stays_in_it(self):
        ownership.bind_thread(self.in_venv)
        sys.executable = "/elsewhere/python"
        self.assertEqual(sys.executable, "/elsewhere/python")
        ownership.bind_thread(self.plain)
        self.assertEqual(sys.executable, self.saved[1]["executable"])

    def test_info_reports_the_sessions_environment(self):
        import json

        ownership.bind_thread(self.in_venv)
        status, text, error = self.in_venv.data("info", "", "")
        self.assertEqual((status, error), ("ok", None))
        info = json.loads(text)
        self.assertEqual(info["executable"], "/venv/bin/python")
        self.assertEqual(info["site_packages"], ["/venv/lib/site"])
        self.assertEqual(info["pid"], os.getpid())


if __name__ == "__main__":
    unittest.main()

"""Tests of the Python-side runtime on its own, in a plain interpreter.

Run with ``python3 -m unittest discover -s python`` (``.ci/run`` does). The modules are
loaded the way the host loads them: compiled under the file name
``<pysession-runtime>``.
"""

import os
import sys
import types
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name):
    with open(os.path.join(HERE, name + ".py"), encoding="utf-8") as f:
        source = f.read()
    module = types.ModuleType(name)
    exec(compile(source, "<pysession-runtime>", "exec"), module.__dict__)
    return module


runtime = load("pysession_runtime")
worker = load("pysession_worker")


# The subprocess worker's stand-in for the host's run control serves the tests too.
Control = worker._Control


class RunCell(unittest.TestCase):
    def setUp(self):
        self.state = runtime.new_session(None, Control())

    def run_cell(self, code):
        return self.state.run(code)

    def test_state_persists_between_cells(self):
        self.assertEqual(self.run_cell("x = 100"), ("ok", None, None))
        self.assertEqual(self.run_cell("x + 50"), ("ok", "150", None))

    def test_last_expression_is_the_value_and_none_is_no_value(self):
        self.assertEqual(self.run_cell("2 + 2")[1], "4")
        self.assertEqual(self.run_cell("x = 5; x")[1], "5")
        self.assertIsNone(self.run_cell("None")[1])
        self.assertIsNone(self.run_cell("y = 1")[1])

    def test_file_semantics_blocks_and_blank_lines(self):
        code = "def f(n):\n\n    total = 0\n\n    for i in range(n):\n        total += i\n    return total\n\nf(4)"
        self.assertEqual(self.run_cell(code)[1], "6")
        self.assertEqual(self.run_cell('s = """a\n\nb"""\nlen(s)')[1], "4")

    def test_top_level_await(self):
        self.assertEqual(self.run_cell("import asyncio\nawait asyncio.sleep(0, result=7)")[1], "7")

    def test_exception_with_traceback_of_user_lines_only(self):
        status, _, error = self.run_cell("def foo():\n    return 1 / 0\nfoo()")
        self.assertEqual(status, "error")
        type_name, message, tb = error
        self.assertEqual(type_name, "ZeroDivisionError")
        self.assertEqual(message, "division by zero")
        self.assertIn("foo", tb)
        self.assertIn("return 1 / 0", tb)
        self.assertNotIn("pysession-runtime", tb)

    def test_syntax_error_names_the_line(self):
        status, _, (type_name, message, _) = self.run_cell("x = 1\nif True\n    pass")
        self.assertEqual((status, type_name), ("error", "SyntaxError"))
        self.assertIn("line 2", message)

    def test_system_exit_and_keyboard_interrupt_are_errors(self):
        self.assertEqual(self.run_cell("raise SystemExit(3)")[2][:2], ("SystemExit", "3"))
        self.assertEqual(self.run_cell("raise KeyboardInterrupt")[2][0], "KeyboardInterrupt")

    def test_stop_exception_gives_stopped_with_where_the_code_was(self):
        self.state.ns["StopNow"] = runtime.StopExecution
        status, _, (_, _, stack) = self.run_cell("def spin():\n    raise StopNow()\nspin()")
        self.assertEqual(status, "stopped")
        self.assertIn("spin", stack)
        self.assertNotIn("pysession-runtime", stack)

    def test_reset_forgets_names(self):
        self.run_cell("gone = 1")
        self.state.reset()
        self.assertEqual(self.run_cell("gone")[2][0], "NameError")

    def test_cell_sources_are_bounded(self):
        saved = runtime._SOURCE_BUDGET
        runtime._SOURCE_BUDGET = 100
        try:
            for _ in range(50):
                self.run_cell("x = 1  # " + "y" * 40)
            self.assertLessEqual(self.state.source_bytes, 100 + 60)
        finally:
            runtime._SOURCE_BUDGET = saved


class Recorder:
    """Stands in for the host's capture: keeps the displays."""

    def __init__(self):
        self.displays = []

    def display(self, items, is_value, run=None):
        self.displays.append((dict(items), is_value))


class Rich(unittest.TestCase):
    def setUp(self):
        self.capture = Recorder()
        self.state = runtime.new_session(self.capture, Control())
        runtime.install_display()
        runtime.bind_thread(self.state)
        self.addCleanup(runtime.unbind_thread)

    def test_bundle_has_every_representation_and_the_repr(self):
        class Both:
            def __repr__(self):
                return "Both()"

            def _repr_html_(self):
                return "<p>"

            def _repr_png_(self):
                return b"png", {"width": 1}  # (data, metadata)

        bundle = runtime.mime_bundle(Both())
        self.assertEqual(bundle, {"text/html": "<p>", "image/png": b"png", "text/plain": "Both()"})
        self.assertIsNone(runtime.mime_bundle(3, rich_only=True))

    def test_methods_are_looked_up_on_the_type(self):
        class Anything:
            def __getattr__(self, name):
                return lambda: "claimed"

        self.assertEqual(list(runtime.mime_bundle(Anything())), ["text/plain"])

    def test_normalize_decodes_base64_and_encodes_json(self):
        self.assertEqual(runtime._normalize("image/png", "cG5n"), b"png")
        self.assertEqual(runtime._normalize("application/json", {"a": (1, 2)}), '{"a": [1, 2]}')
        self.assertEqual(runtime._normalize("application/geo+json", '{"b": 1}'), '{"b": 1}')
        self.assertEqual(runtime._normalize("text/html", b"<b>"), "<b>")
        self.assertIsNone(runtime._normalize("text/html", None))

    def test_display_and_the_value_bundle_reach_the_capture_in_order(self):
        class H:
            def _repr_html_(self):
                return "<h>"

        self.state.ns["H"] = H
        self.assertEqual(self.state.run("display(H(), 'x')\nH()")[0], "ok")
        shown = self.capture.displays
        self.assertEqual([d[0].get("text/html") for d in shown], ["<h>", None, "<h>"])
        self.assertEqual([d[1] for d in shown], [False, False, True])

    def test_blob_hook_swaps_markers_for_bytes(self):
        self.assertEqual(self.state.data("set", "v", '{"k": [{"\\u0000bytes": 1}]}', [b"a", b"b"]), ("ok", None, None))
        self.assertEqual(self.state.ns["v"], {"k": [b"b"]})
        self.assertEqual(self.state.data("get_bytes", "v", "")[2][0], "TypeError")


class Worker(unittest.TestCase):
    def test_clean_replaces_lone_surrogates(self):
        self.assertEqual(worker._clean("a\udc80b"), "a?b")
        self.assertEqual(worker._clean(["x", ("y\udc80",)]), ["x", ["y?"]])

    def test_empty_stdin_reads_nothing_and_survives_close(self):
        stdin = worker._EmptyStdin()
        stdin.close()
        self.assertEqual(stdin.read(), "")
        self.assertEqual(stdin.readline(), "")


if __name__ == "__main__":
    unittest.main()


class SessionPython(unittest.TestCase):
    """``sys.executable`` and ``sys.prefix`` per session, and the ``info`` operation."""

    def setUp(self):
        self.saved = (type(sys), dict((k, sys.__dict__[k]) for k in ("executable", "_base_executable")))
        runtime.set_executable(sys.executable)
        env = {"executable": "/venv/bin/python", "prefix": "/venv", "site_packages": ["/venv/lib/site"]}
        self.plain = runtime.new_session(None, Control())
        self.in_venv = runtime.new_session(None, Control(), env)

    def tearDown(self):
        runtime.unbind_thread()
        cls, values = self.saved
        sys.__class__ = cls
        sys.__dict__.update(values)

    def test_a_session_in_an_environment_sees_its_python_and_prefix(self):
        runtime.bind_thread(self.in_venv)
        self.assertEqual(sys.executable, "/venv/bin/python")
        self.assertEqual(sys.prefix, "/venv")
        self.assertEqual(sys.exec_prefix, "/venv")
        self.assertEqual(sys._base_executable, self.saved[1]["executable"])

    def test_other_sessions_and_unowned_threads_see_the_process_values(self):
        runtime.bind_thread(self.plain)
        self.assertEqual(sys.executable, self.saved[1]["executable"])
        self.assertEqual(sys.prefix, sys.__dict__["prefix"])
        runtime.unbind_thread()
        self.assertEqual(sys.executable, self.saved[1]["executable"])

    def test_setting_sys_executable_in_an_environment_session_stays_in_it(self):
        runtime.bind_thread(self.in_venv)
        sys.executable = "/elsewhere/python"
        self.assertEqual(sys.executable, "/elsewhere/python")
        runtime.bind_thread(self.plain)
        self.assertEqual(sys.executable, self.saved[1]["executable"])

    def test_info_reports_the_sessions_environment(self):
        import json

        runtime.bind_thread(self.in_venv)
        status, text, error = self.in_venv.data("info", "", "")
        self.assertEqual((status, error), ("ok", None))
        info = json.loads(text)
        self.assertEqual(info["executable"], "/venv/bin/python")
        self.assertEqual(info["site_packages"], ["/venv/lib/site"])
        self.assertEqual(info["pid"], os.getpid())

"""``cells``: a cell's run, its value, top-level ``await``, its source kept."""

import collections
import linecache
import unittest

from . import support
from pysession_runtime import cells, ownership
from pysession_runtime.ownership import StopExecution


class State(support.Owner):
    """What a cell runs against: a namespace, an event loop, the kept sources."""

    def __init__(self):
        super().__init__()
        self.ns = {"__name__": "__main__"}
        self.filenames = collections.deque()
        self.source_bytes = 0


class RunCell(unittest.TestCase):
    def setUp(self):
        self.state = State()
        self.addCleanup(cells.forget_sources, self.state)
        self.addCleanup(cells.close_loop, self.state)

    def run_cell(self, code):
        return cells.run_cell(self.state, code, cells.next_filename())

    def test_state_persists_between_cells(self):
        self.assertEqual(self.run_cell("x = 100"), ("ok", None, None))
        self.assertEqual(self.run_cell("x + 50"), ("ok", "150", None))

    def test_a_cell_runs_as_module_code_its_names_in_the_namespace(self):
        # Run as a function made of the cell's code, not through `eval`: the code's
        # locals must still be the namespace, as at a module's top level.
        code = (
            "same = locals() is globals()\n"
            "def bump():\n    global counter\n    counter += 1\n"
            "counter = 1\nbump()\n"
            "class K:\n    seen = counter\n"
            "squares = [i * counter for i in range(3)]\n"
            "del same_later\n"
        )
        self.state.ns["same_later"] = 1
        self.assertEqual(self.run_cell(code), ("ok", None, None))
        ns = self.state.ns
        self.assertIs(ns["same"], True)
        self.assertEqual((ns["counter"], ns["K"].seen, ns["squares"]), (2, 2, [0, 2, 4]))
        self.assertNotIn("same_later", ns)
        self.assertEqual(self.run_cell("counter")[1], "2")

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

    def test_the_loop_is_the_sessions_and_runs_again_after_a_failed_await(self):
        self.assertEqual(self.run_cell("import asyncio\nawait asyncio.sleep(0)\n1 / 0")[2][0], "ZeroDivisionError")
        loop = self.state.loop
        self.assertFalse(loop.is_closed())
        self.assertEqual(self.run_cell("await asyncio.sleep(0, result=8)")[1], "8")
        self.assertIs(self.state.loop, loop)
        cells.close_loop(self.state)
        self.assertTrue(loop.is_closed())
        self.assertIsNone(self.state.loop)

    def test_exception_with_traceback_of_user_lines_only(self):
        status, _, error = self.run_cell("def foo():\n    return 1 / 0\nfoo()")
        self.assertEqual(status, "error")
        type_name, message, tb = error
        self.assertEqual(type_name, "ZeroDivisionError")
        self.assertEqual(message, "division by zero")
        self.assertIn("foo", tb)
        self.assertIn("return 1 / 0", tb)
        self.assertNotIn("pysession-runtime", tb)
        self.assertNotIn(support.PACKAGE_DIR, tb)

    def test_syntax_error_names_the_line(self):
        status, _, (type_name, message, _) = self.run_cell("x = 1\nif True\n    pass")
        self.assertEqual((status, type_name), ("error", "SyntaxError"))
        self.assertIn("line 2", message)

    def test_system_exit_and_keyboard_interrupt_are_errors(self):
        self.assertEqual(self.run_cell("raise SystemExit(3)")[2][:2], ("SystemExit", "3"))
        self.assertEqual(self.run_cell("raise KeyboardInterrupt")[2][0], "KeyboardInterrupt")

    def test_a_stop_is_raised_on_for_the_session_to_handle(self):
        self.state.ns["StopNow"] = StopExecution
        with self.assertRaises(StopExecution):
            self.run_cell("raise StopNow()")

    def test_cell_files_are_numbered_with_the_hosts_prefix(self):
        first, second = cells.next_filename(), cells.next_filename()
        self.assertTrue(first.startswith(support.CONSTANTS["cell_file_prefix"]), first)
        self.assertNotEqual(first, second)

    def test_the_source_of_a_cell_is_there_for_tracebacks(self):
        filename = cells.next_filename()
        cells.run_cell(self.state, "a = 1\nb = 2\n", filename)
        self.assertEqual(linecache.getline(filename, 2), "b = 2\n")
        cells.forget_sources(self.state)
        self.assertEqual(linecache.getline(filename, 2), "")

    def test_cell_sources_are_bounded(self):
        saved = cells.SOURCE_BUDGET
        cells.SOURCE_BUDGET = 100
        try:
            for _ in range(50):
                self.run_cell("x = 1  # " + "y" * 40)
            self.assertLessEqual(self.state.source_bytes, 100 + 60)
        finally:
            cells.SOURCE_BUDGET = saved

    def test_tiny_cells_are_bounded_by_their_number_too(self):
        for _ in range(cells.SOURCE_CELLS + 200):
            self.run_cell("x = 1")
        self.assertEqual(len(self.state.filenames), cells.SOURCE_CELLS)
        kept = [name for name in self.state.filenames if name in linecache.cache]
        self.assertEqual(len(kept), cells.SOURCE_CELLS)

    def test_a_rich_value_is_displayed_as_the_value_and_a_plain_one_is_not(self):
        class H:
            def _repr_html_(self):
                return "<h>"

            def __repr__(self):
                return "H()"

        self.state.ns["H"] = H
        self.assertEqual(self.run_cell("H()"), ("ok", "H()", None))
        self.assertEqual(self.run_cell("[1, 2]")[1], "[1, 2]")
        self.assertEqual(self.state.capture.displays, [({"text/html": "<h>", "text/plain": "H()"}, True)])


class WakeLoop(unittest.TestCase):
    def test_a_session_waiting_in_its_loop_is_woken(self):
        class Loop:
            woken = []

            def is_running(self):
                return True

            def call_soon_threadsafe(self, callback):
                self.woken.append(callback)

        state = support.Owner()
        state.loop = Loop()
        ownership.bind_thread(state)
        self.addCleanup(ownership.unbind_thread)
        import threading

        cells.wake_loop(threading.get_ident())
        self.assertEqual(len(Loop.woken), 1)
        # A thread no session owns has no loop to wake.
        cells.wake_loop(-1)
        self.assertEqual(len(Loop.woken), 1)


if __name__ == "__main__":
    unittest.main()


class UseNativePlan(unittest.TestCase):
    """A host's plan is taken only if it gives what the `ast` route gives."""

    def setUp(self):
        self.addCleanup(setattr, cells, "_plan", cells._plan)
        self.addCleanup(setattr, cells, "plan_refused", cells.plan_refused)

    def test_a_plan_that_gives_another_value_is_refused_and_says_where(self):
        def wrong(code, filename):
            return (compile(code, filename, "exec"), None)  # never a value

        cells.use_native_plan(wrong)
        self.assertIsNone(cells._plan)
        code, got, want = cells.plan_refused
        self.assertEqual((code, got, want), ("len('ab')", None, 2))
        state = State()
        self.addCleanup(cells.forget_sources, state)
        self.assertEqual(cells.run_cell(state, "2 + 2", cells.next_filename())[1], "4")

    def test_a_plan_that_raises_is_refused(self):
        def broken(code, filename):
            raise RuntimeError("no plan")

        cells.use_native_plan(broken)
        self.assertIsNone(cells._plan)
        self.assertIsInstance(cells.plan_refused[1], RuntimeError)

    def test_a_plan_that_leaves_every_cell_to_the_ast_route_is_taken_and_used(self):
        seen = []

        def undecided(code, filename):
            seen.append(code)

        cells.use_native_plan(undecided)
        self.assertIs(cells._plan, undecided)
        self.assertIsNone(cells.plan_refused)
        state = State()
        self.addCleanup(cells.forget_sources, state)
        self.assertEqual(cells.run_cell(state, "x = 3\nx", cells.next_filename())[1], "3")
        self.assertEqual(seen[-1], "x = 3\nx")

"""``tracebacks``: errors as the host reports them, with the user's frames only."""

import os
import unittest

from . import support
from pysession_runtime import tracebacks

RUNTIME_FILE = support.CONSTANTS["runtime_file_prefix"] + "fake.py"


def compiled(source, filename, name):
    ns = {}
    exec(compile(source, filename, "exec"), ns)
    return ns[name]


# A cell's function, and runtime code that calls it (as the runtime calls a cell).
cell_fail = compiled("def fail():\n    return 1 / 0\n", "<cell 90>", "fail")
runtime_call = compiled("def call(f):\n    return f()\n", RUNTIME_FILE, "call")


def caught(function, *args):
    try:
        function(*args)
    except BaseException as e:
        return e
    raise AssertionError("no exception")


class Describe(unittest.TestCase):
    def test_the_runtimes_frames_and_those_before_the_first_cell_are_left_out(self):
        type_name, message, tb = tracebacks.describe(caught(runtime_call, cell_fail))
        self.assertEqual((type_name, message), ("ZeroDivisionError", "division by zero"))
        self.assertIn('File "<cell 90>", line 2, in fail', tb)
        self.assertNotIn(RUNTIME_FILE, tb)
        # This test file's own frames came before the cell: machinery, left out too.
        self.assertNotIn(os.path.basename(__file__), tb)
        self.assertTrue(tb.endswith("ZeroDivisionError: division by zero\n"), tb)

    def test_chained_exceptions_lose_the_runtimes_frames_too(self):
        def outer():
            try:
                runtime_call(cell_fail)
            except ZeroDivisionError as e:
                raise ValueError("again") from e

        _, _, tb = tracebacks.describe(caught(runtime_call, outer))
        self.assertIn("The above exception was the direct cause", tb)
        self.assertIn("<cell 90>", tb)
        self.assertNotIn(RUNTIME_FILE, tb)

    def test_exception_groups_lose_the_runtimes_frames_in_each_member(self):
        def group():
            raise ExceptionGroup("two", [caught(runtime_call, cell_fail), KeyError("k")])

        _, message, tb = tracebacks.describe(caught(group))
        self.assertIn("two", message)
        self.assertIn("<cell 90>", tb)
        self.assertNotIn(RUNTIME_FILE, tb)

    def test_a_syntax_error_says_its_line_and_text(self):
        e = caught(compile, "x = 1\nif True\n", "<cell 91>", "exec")
        type_name, message, _ = tracebacks.describe(e)
        self.assertEqual(type_name, "SyntaxError")
        self.assertIn("line 2", message)
        self.assertIn("if True", message)

    def test_without_the_chain_only_the_last_exception_is_shown(self):
        def outer():
            try:
                cell_fail()
            except ZeroDivisionError:
                raise KeyError("second")

        _, _, tb = tracebacks.describe(caught(outer), chain=False)
        self.assertNotIn("ZeroDivisionError", tb)
        self.assertIn("KeyError", tb)


class Stack(unittest.TestCase):
    def test_where_stopped_code_was_without_the_exception_line(self):
        stack = tracebacks.format_stack(caught(runtime_call, cell_fail))
        self.assertTrue(stack.startswith("Traceback (most recent call last):\n"), stack)
        self.assertIn("<cell 90>", stack)
        self.assertNotIn("ZeroDivisionError", stack)
        self.assertNotIn(RUNTIME_FILE, stack)

    def test_no_cell_frame_means_no_stack(self):
        self.assertEqual(tracebacks.format_stack(caught(runtime_call, lambda: 1 / 0)), "")


class UnreadableText(unittest.TestCase):
    def test_an_exception_whose_str_raises_keeps_its_type_and_says_why(self):
        class Unreadable(Exception):
            def __str__(self):
                raise RuntimeError("no text")

        type_name, message, tb = tracebacks.describe(caught(runtime_call, lambda: (_ for _ in ()).throw(Unreadable())))
        self.assertEqual(type_name, "Unreadable")
        self.assertIn("could not be read", message)
        self.assertIn("RuntimeError: no text", message)

    def test_a_stopped_stack_never_reads_an_exceptions_text(self):
        read = []

        class Watched(Exception):
            def __str__(self):
                read.append(1)
                return "read"

        # A stop raised while a cell handled an exception whose text is user code.
        cell = compiled(
            "def handle(E):\n    try:\n        raise E()\n    except E:\n        raise KeyboardInterrupt\n",
            "<cell 91>",
            "handle",
        )
        stack = tracebacks.format_stack(caught(cell, Watched))
        self.assertIn("<cell 91>", stack)
        self.assertEqual(read, [])


if __name__ == "__main__":
    unittest.main()

"""``variables``: the ``data`` operations on a namespace, and values for the host."""

import json
import types
import unittest

from . import support  # noqa: F401  (configures the runtime)
from pysession_runtime import variables


class Data(unittest.TestCase):
    def setUp(self):
        self.ns = {"__name__": "__main__"}

    def data(self, op, name="", arg="", blobs=()):
        return variables.data(self.ns, op, name, arg, blobs)

    def test_get_is_json_with_bytes_as_numbers_and_tuples_as_lists(self):
        self.ns["v"] = {"b": b"\x01\x02", "t": (1, 2), "s": "x"}
        status, text, error = self.data("get", "v")
        self.assertEqual((status, error), ("ok", None))
        self.assertEqual(json.loads(text), {"b": [1, 2], "t": [1, 2], "s": "x"})

    def test_a_value_json_cannot_carry_is_a_type_error(self):
        self.ns["nan"] = float("nan")
        self.ns["obj"] = object()
        for name in ("nan", "obj"):
            status, _, (type_name, message, _) = self.data("get", name)
            self.assertEqual((status, type_name), ("error", "TypeError"))
            self.assertIn("cannot be converted to JSON", message)

    def test_a_missing_name_is_a_name_error(self):
        for op in ("get", "get_bytes"):
            self.assertEqual(self.data(op, "nope")[2][0], "NameError")

    def test_set_takes_json_and_refuses_bad_names(self):
        self.assertEqual(self.data("set", "x", '{"a": [1, null]}'), ("ok", None, None))
        self.assertEqual(self.ns["x"], {"a": [1, None]})
        self.assertEqual(self.data("set", "not a name", "1")[2][0], "ValueError")
        self.assertEqual(self.data("set", "y", "{broken")[2][0], "JSONDecodeError")

    def test_blob_hook_swaps_markers_for_bytes(self):
        self.assertEqual(self.data("set", "v", '{"k": [{"\\u0000bytes": 1}]}', [b"a", b"b"]), ("ok", None, None))
        self.assertEqual(self.ns["v"], {"k": [b"b"]})
        self.assertEqual(self.data("get_bytes", "v")[2][0], "TypeError")

    def test_bytes_go_both_ways_as_they_are(self):
        self.assertEqual(self.data("set_bytes", "raw", blobs=[bytearray(b"\x00\xff")]), ("ok", None, None))
        self.assertIs(type(self.ns["raw"]), bytes)
        self.assertEqual(self.data("get_bytes", "raw"), ("ok", b"\x00\xff", None))
        self.ns["view"] = memoryview(b"mv")
        self.assertEqual(self.data("get_bytes", "view"), ("ok", b"mv", None))

    def test_list_leaves_out_dunders_and_modules_unless_asked(self):
        self.ns.update(x=1, _=2, mod=types.ModuleType("m"), long="y" * 500)
        names = [row[0] for row in json.loads(self.data("list", arg="")[1])]
        self.assertEqual(sorted(names), ["long", "x"])
        rows = {row[0]: row for row in json.loads(self.data("list", arg="1")[1])}
        self.assertIn("mod", rows)
        self.assertEqual(rows["x"], ["x", "int", "1"])
        self.assertLess(len(rows["long"][2]), 100)

    def test_an_unknown_operation_is_a_value_error(self):
        self.assertEqual(self.data("reset")[2][:2], ("ValueError", "unknown variable operation 'reset'"))


class Clean(unittest.TestCase):
    def test_clean_replaces_lone_surrogates(self):
        self.assertEqual(variables.clean("a\udc80b"), "a\ufffdb")
        self.assertEqual(variables.clean(["x", ("y\udc80",)]), ["x", ["y\ufffd"]])
        self.assertEqual(variables.clean(3), 3)


if __name__ == "__main__":
    unittest.main()

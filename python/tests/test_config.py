"""``config``: the host's constants, handed in once."""

import json
import unittest

from . import support
from pysession_runtime import config


class Configure(unittest.TestCase):
    def tearDown(self):
        support.configure()

    def test_the_hosts_json_sets_every_constant(self):
        config.configure(json.dumps({**support.CONSTANTS, "cell_file_prefix": "<in ", "max_frame": 7}))
        self.assertEqual(config.CELL_FILE_PREFIX, "<in ")
        self.assertEqual(config.MAX_FRAME, 7)
        self.assertEqual(config.RUNTIME_FILE_PREFIX, support.CONSTANTS["runtime_file_prefix"])
        self.assertIn("application/pdf", config.BINARY_TYPES)
        self.assertEqual(config.TEXT_PREFIXES, ("text/",))

    def test_cell_file_names_carry_the_prefix(self):
        support.configure(cell_file_prefix="<in ")
        self.assertEqual(config.cell_file(12), "<in 12>")
        self.assertTrue(config.is_cell_file("<in 3>"))
        self.assertFalse(config.is_cell_file("<cell 3>"))

    def test_runtime_files_are_told_by_their_prefix(self):
        support.configure(runtime_file_prefix="<rt/")
        self.assertTrue(config.is_runtime_file("<rt/cells.py>"))
        self.assertFalse(config.is_runtime_file("/usr/lib/python3/asyncio/events.py"))

    def test_a_missing_constant_is_an_error_that_names_it(self):
        partial = {k: v for k, v in support.CONSTANTS.items() if k != "max_frame"}
        with self.assertRaisesRegex(ValueError, "max_frame"):
            config.configure(partial)
        mime = {k: v for k, v in support.CONSTANTS["mime"].items() if k != "binary_kinds"}
        with self.assertRaisesRegex(ValueError, "binary_kinds"):
            config.configure({**support.CONSTANTS, "mime": mime})

    def test_empty_prefixes_are_refused(self):
        # An empty prefix would make every frame the runtime's, or every frame a cell's.
        with self.assertRaises(ValueError):
            support.configure(runtime_file_prefix="")


if __name__ == "__main__":
    unittest.main()

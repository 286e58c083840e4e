"""``display``: MIME bundles by the host's rules, and ``display()``."""

import contextlib
import io
import unittest

from . import support
from pysession_runtime import config, display, ownership


class Bundles(unittest.TestCase):
    def tearDown(self):
        support.configure()

    def test_bundle_has_every_representation_and_the_repr(self):
        class Both:
            def __repr__(self):
                return "Both()"

            def _repr_html_(self):
                return "<p>"

            def _repr_png_(self):
                return b"png", {"width": 1}  # (data, metadata)

        bundle = display.mime_bundle(Both())
        self.assertEqual(bundle, {"text/html": "<p>", "image/png": b"png", "text/plain": "Both()"})
        self.assertIsNone(display.mime_bundle(3, rich_only=True))

    def test_methods_are_looked_up_on_the_type(self):
        class Anything:
            def __getattr__(self, name):
                return lambda: "claimed"

        self.assertEqual(list(display.mime_bundle(Anything())), ["text/plain"])

    def test_normalize_decodes_base64_and_encodes_json(self):
        self.assertEqual(display.normalize("image/png", "cG5n"), b"png")
        self.assertEqual(display.normalize("application/json", {"a": (1, 2)}), '{"a": [1, 2]}')
        self.assertEqual(display.normalize("application/geo+json", '{"b": 1}'), '{"b": 1}')
        self.assertEqual(display.normalize("text/html", b"<b>"), "<b>")
        self.assertIsNone(display.normalize("text/html", None))

    def test_binary_given_as_text_that_is_not_base64_is_refused(self):
        with self.assertRaisesRegex(ValueError, "must be base64"):
            display.normalize("application/pdf", "not base64!")
        with self.assertRaisesRegex(TypeError, "must be bytes"):
            display.normalize("image/png", 3)

    def test_the_mime_rules_are_the_hosts(self):
        self.assertTrue(display.is_text("image/svg+xml"))
        self.assertFalse(display.is_binary("image/svg+xml"))
        self.assertTrue(display.is_binary("font/woff2"))
        # Bytes of a type no rule knows stay bytes, until the host's rules say text.
        self.assertEqual(display.normalize("application/x-made-up", b"ab"), b"ab")
        mime = {**support.CONSTANTS["mime"], "text_types": ["application/x-made-up"]}
        support.configure(mime=mime)
        self.assertIn("application/x-made-up", config.TEXT_TYPES)
        self.assertEqual(display.normalize("application/x-made-up", b"ab"), "ab")

    def test_a_failing_representation_is_left_out_and_said_on_stderr(self):
        class Broken:
            def _repr_html_(self):
                raise RuntimeError("no html today")

            def _repr_markdown_(self):
                return "*md*"

        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            bundle = display.mime_bundle(Broken())
        self.assertEqual(set(bundle), {"text/markdown", "text/plain"})
        self.assertIn("Broken._repr_html_() failed", err.getvalue())
        self.assertIn("no html today", err.getvalue())

    def test_include_and_exclude_choose_types(self):
        class Two:
            def _repr_html_(self):
                return "<i>"

            def _repr_latex_(self):
                return "$x$"

        self.assertEqual(list(display.mime_bundle(Two(), include={"text/html"})), ["text/html"])
        self.assertEqual(set(display.mime_bundle(Two(), exclude={"text/html"})), {"text/latex", "text/plain"})

    def test_a_renderer_gives_objects_without_the_method_a_representation(self):
        class Plot:
            pass

        display.add_renderer("image/png", lambda o: isinstance(o, Plot), lambda o: b"drawn", "draw()")
        self.addCleanup(display._renderers.pop)
        self.assertEqual(display.mime_bundle(Plot())["image/png"], b"drawn")
        self.assertNotIn("image/png", display.mime_bundle(object()))


class Display(unittest.TestCase):
    def setUp(self):
        self.state = support.Owner()
        ownership.bind_thread(self.state)
        self.addCleanup(ownership.unbind_thread)

    def test_each_object_is_one_item_in_order(self):
        class H:
            def _repr_html_(self):
                return "<h>"

        display.display(H(), "text")
        shown = self.state.capture.displays
        self.assertEqual([d[0].get("text/html") for d in shown], ["<h>", None])
        self.assertEqual(shown[1], ({"text/plain": "'text'"}, False))

    def test_raw_bundles_are_normalized_and_must_be_dicts(self):
        display.display({"image/png": "cG5n", "text/plain": "p"}, raw=True)
        self.assertEqual(self.state.capture.displays, [({"image/png": b"png", "text/plain": "p"}, False)])
        with self.assertRaisesRegex(TypeError, "dicts of MIME type"):
            display.display("x", raw=True)

    def test_mime_names_reach_the_host_without_lone_surrogates(self):
        display.display({"text/x\udc80": "v"}, raw=True)
        self.assertEqual(self.state.capture.displays, [({"text/x\ufffd": "v"}, False)])

    def test_outside_any_session_the_text_is_printed(self):
        ownership.unbind_thread()
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            display.display(42)
        self.assertEqual(out.getvalue(), "42\n")
        self.assertEqual(self.state.capture.displays, [])

    def test_install_makes_display_a_builtin(self):
        import builtins

        display.install()
        self.assertIs(builtins.display, display.display)


if __name__ == "__main__":
    unittest.main()

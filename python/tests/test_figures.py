"""``figures``: the session's matplotlib backend, and figures shown as PNG.

The import hook is tested with a stand-in ``matplotlib`` package; the figures themselves
with the real one, where it is installed (the test virtual environment has it: ``.ci/run``
runs these tests there too).
"""

import importlib.util
import os
import sys
import tempfile
import textwrap
import unittest

from . import support
from pysession_runtime import display, figures, hooks, ownership

FAKE_MATPLOTLIB = textwrap.dedent(
    """
    import sys, types
    rcsetup = types.ModuleType("matplotlib.rcsetup")
    rcsetup._auto_backend_sentinel = object()
    sys.modules["matplotlib.rcsetup"] = rcsetup
    rcParams = {"backend": rcsetup._auto_backend_sentinel}
    """
)
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


def without_the_hook():
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, hooks._HookingFinder)]


class ImportHook(unittest.TestCase):
    def setUp(self):
        if "matplotlib" in sys.modules:
            self.skipTest("the real matplotlib is loaded")
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        os.mkdir(os.path.join(folder.name, "matplotlib"))
        with open(os.path.join(folder.name, "matplotlib", "__init__.py"), "w") as f:
            f.write(FAKE_MATPLOTLIB)
        sys.path.insert(0, folder.name)
        self.addCleanup(sys.path.remove, folder.name)
        self.addCleanup(without_the_hook)
        self.addCleanup(lambda: [sys.modules.pop(m, None) for m in ("matplotlib", "matplotlib.rcsetup")])

    def test_importing_matplotlib_chooses_the_sessions_backend(self):
        figures.install()
        import matplotlib

        self.assertEqual(matplotlib.rcParams["backend"], figures.BACKEND)
        # matplotlib's own loader is put back once it has run.
        self.assertNotIsInstance(matplotlib.__spec__.loader, hooks._HookedLoader)
        self.assertIn("pysession_matplotlib", sys.modules)

    def test_a_backend_the_user_chose_is_kept(self):
        figures.install()
        import matplotlib

        matplotlib.rcParams["backend"] = "agg"
        figures._configure_matplotlib(matplotlib)
        self.assertEqual(matplotlib.rcParams["backend"], "agg")

    def test_installing_twice_hooks_once(self):
        figures.install()
        figures.install()
        self.assertEqual(sum(isinstance(f, hooks._HookingFinder) for f in sys.meta_path), 1)


class Backend(unittest.TestCase):
    def test_the_backend_module_has_no_dunder_attributes_made_up(self):
        figures.install()
        self.addCleanup(without_the_hook)
        with self.assertRaises(AttributeError):
            sys.modules["pysession_matplotlib"].__wrapped__

    def test_without_matplotlib_nothing_is_a_figure(self):
        if "matplotlib.figure" in sys.modules:
            self.skipTest("matplotlib is loaded")
        self.assertFalse(figures.is_figure(object()))


@unittest.skipUnless(HAVE_MATPLOTLIB, "matplotlib is not installed in this Python")
class ShownFigures(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.environ.pop("MPLBACKEND", None)
        figures.install()
        import matplotlib.pyplot

        cls.plt = matplotlib.pyplot

    def setUp(self):
        self.state = support.Owner()
        ownership.bind_thread(self.state)
        self.addCleanup(ownership.unbind_thread)
        self.addCleanup(self.plt.close, "all")

    def test_the_sessions_backend_is_chosen(self):
        self.assertEqual(self.plt.get_backend(), figures.BACKEND)

    def test_open_figures_are_shown_once_as_png_and_closed(self):
        self.plt.plot([1, 4, 9])
        figures.flush_figures(self.state)
        [(bundle, is_value)] = self.state.capture.displays
        self.assertFalse(is_value)
        self.assertTrue(bundle["image/png"].startswith(b"\x89PNG"))
        self.assertEqual(bundle["text/plain"], "<Figure size 640x480 with 1 Axes>")
        self.assertEqual(self.plt.get_fignums(), [])

    def test_show_displays_the_sessions_figures_now(self):
        self.plt.figure()
        self.plt.figure()
        self.plt.show()
        self.assertEqual(len(self.state.capture.displays), 2)
        self.assertEqual(self.plt.get_fignums(), [])

    def test_closing_without_rendering_shows_nothing(self):
        self.plt.plot([1])
        figures.flush_figures(self.state, render=False)
        self.assertEqual(self.state.capture.displays, [])
        self.assertEqual(self.plt.get_fignums(), [])

    def test_another_sessions_figures_are_left_alone(self):
        self.plt.plot([1])
        other = support.Owner()
        figures.flush_figures(other)
        self.assertEqual(other.capture.displays, [])
        self.assertEqual(len(self.plt.get_fignums()), 1)

    def test_a_figure_in_a_bundle_is_its_png(self):
        fig = self.plt.figure()
        display.display(fig)
        [(bundle, _)] = self.state.capture.displays
        self.assertTrue(bundle["image/png"].startswith(b"\x89PNG"))


if __name__ == "__main__":
    unittest.main()

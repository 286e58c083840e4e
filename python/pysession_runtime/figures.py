"""matplotlib figures as PNG: the session's own backend (``pysession_matplotlib``),
chosen when nobody chose one, and the display of a session's open figures after each
run and on ``plt.show()``.

matplotlib is never imported here: an import hook sees the user's import of it, and
the backend's classes are made on first use (importing Agg is slow).
"""

import io
import sys
import types
import weakref

from pysession_runtime import display, hooks, ownership

BACKEND = "module://pysession_matplotlib"
_figure_counter = iter(range(1, 1 << 62))


def is_figure(obj):
    figure = sys.modules.get("matplotlib.figure")
    return figure is not None and isinstance(obj, figure.Figure)


def figure_png(fig):
    """The figure as PNG, at its own size and dpi (6.4 x 4.8 in at 100 dpi: 640 x 480)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    # savefig leaves the figure marked changed (it restores the dpi and colours it
    # rendered with); what changes it from now on marks it again.
    fig.stale = False
    png = buf.getvalue()
    # What was shown, to tell a change from a redraw (the user's own savefig marks the
    # figure changed too).
    fig._pysession_png = png
    return png


def _captures_figures():
    """Figures are the session's to show only with its own backend: one the user chose
    (even Agg) leaves them to the user."""
    matplotlib = sys.modules.get("matplotlib")
    return matplotlib is not None and dict.get(matplotlib.rcParams, "backend") == BACKEND


def flush_figures(state, render=True):
    """Displays the session's open pyplot figures that were not shown since they last
    changed, in the order they were made, and closes them all (with ``render`` false,
    only closes them). Figures whose session is gone are closed too; figures made
    outside any session (by the host's own threads) are left alone."""
    if not _captures_figures():
        return
    plt = sys.modules.get("matplotlib.pyplot")
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    if plt is None or helpers is None:
        return
    mine = []
    orphans = []
    for manager in helpers.Gcf.get_all_fig_managers():
        fig = manager.canvas.figure
        ref = getattr(fig, "_pysession_owner", None)
        if ref is None:
            continue
        owner = ref()
        if owner is state:
            mine.append((getattr(fig, "_pysession_order", 0), manager.num, fig))
        elif owner is None:
            orphans.append(fig)
    mine.sort(key=lambda entry: entry[:2])
    try:
        for _, _, fig in mine:
            shown = getattr(fig, "_pysession_png", None)
            if not render or (shown is not None and not fig.stale):
                continue
            try:
                png = figure_png(fig)
            except Exception as e:
                display.formatter_failed(fig, "savefig()", e)
                continue
            if png != shown:
                display.emit((state, None), {"image/png": png, "text/plain": repr(fig)}, False)
    finally:
        for fig in [entry[2] for entry in mine] + orphans:
            plt.close(fig)


def _backend_attribute(name):
    """The ``pysession_matplotlib`` backend, made on first use (importing Agg is slow)."""
    if name.startswith("__"):
        raise AttributeError(name)
    module = sys.modules["pysession_matplotlib"]
    if "FigureCanvas" not in module.__dict__:
        from matplotlib.backend_bases import FigureManagerBase
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        class FigureManager(FigureManagerBase):
            """Remembers the session a figure belongs to; ``fig.show()`` displays it."""

            def __init__(self, canvas, num):
                super().__init__(canvas, num)
                owner = ownership.owner()
                figure = canvas.figure
                figure._pysession_owner = None if owner is None else weakref.ref(owner[0])
                figure._pysession_order = next(_figure_counter)

            def show(self):
                display.display(self.canvas.figure)

        class FigureCanvas(FigureCanvasAgg):
            manager_class = FigureManager

        def show(*args, **kwargs):
            """``plt.show()``: displays the session's figures now, and closes them."""
            owner = ownership.owner()
            if owner is not None:
                flush_figures(owner[0])

        module.FigureCanvas = FigureCanvas
        module.FigureManager = FigureManager
        module.show = show
    try:
        return module.__dict__[name]
    except KeyError:
        raise AttributeError(f"module 'pysession_matplotlib' has no attribute {name!r}") from None


def _configure_matplotlib(matplotlib):
    """Without a display, figures render with Agg and come back as PNG: the session's
    backend, unless the user chose one (``MPLBACKEND``, matplotlibrc, ``use()``)."""
    try:
        rcsetup = sys.modules.get("matplotlib.rcsetup")
        sentinel = getattr(rcsetup, "_auto_backend_sentinel", None)
        if sentinel is not None and dict.get(matplotlib.rcParams, "backend") is sentinel:
            matplotlib.rcParams["backend"] = BACKEND
    except Exception as e:
        sys.stderr.write(f"pysession: could not set the matplotlib backend: {e}\n")


def install():
    """Figures as PNG, in every session of the process: the backend, the import hook,
    and a figure's PNG in its MIME bundle."""
    display.add_renderer("image/png", is_figure, figure_png, "savefig()")
    if "pysession_matplotlib" not in sys.modules:
        backend = types.ModuleType("pysession_matplotlib")
        backend.__getattr__ = _backend_attribute
        sys.modules["pysession_matplotlib"] = backend
    hooks.after_import("matplotlib", _configure_matplotlib)

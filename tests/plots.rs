//! Figures, images and tables with the real libraries (matplotlib, pillow, pandas,
//! numpy), from the test virtual environment that `.ci/run` makes.

mod common;

use std::time::Duration;

use common::*;

/// What the matplotlib tests import.
const PYPLOT: &str = "import matplotlib.pyplot as plt";

/// Under the sub-interpreter backend, where an extension module built without
/// sub-interpreter support cannot be loaded: `import` fails with an `ImportError` that
/// names `module` and says which backends to use instead, and the session goes on with
/// its state.
#[track_caller]
fn import_is_refused(import: &str, module: &str) {
    let s = venv_session();
    ok(&s, "kept = 'yes'");
    let r = raises(&s, import, "ImportError");
    let m = &r.error.as_ref().unwrap().message;
    assert!(
        m.contains(module) && m.contains("Backend::Embedded"),
        "{r:#?}"
    );
    // The message begins with what the code imported.
    let imported = import
        .split_whitespace()
        .nth(1)
        .unwrap()
        .trim_end_matches(',');
    assert!(m.starts_with(imported), "{imported}: {m}");
    assert_eq!(value(&s, "kept").as_deref(), Some("'yes'"));
    assert_alive(&s);
}

#[test]
fn a_figure_comes_back_as_a_png_without_show() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let s = venv_session();
    let r = ok(
        &s,
        "import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nprint(plt.get_backend())",
    );
    // Agg, by way of the session's own backend, since nobody chose one.
    assert_eq!(r.stdout, "module://pysession_matplotlib\n");
    assert_eq!(r.display.len(), 1, "{r:#?}");
    let png = r.display[0].png().expect("image/png");
    assert_eq!(png_size(png), (640, 480));
    assert_eq!(
        r.display[0].plain(),
        Some("<Figure size 640x480 with 1 Axes>")
    );
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // Shown once, and closed.
    let r = ok(&s, "plt.get_fignums()");
    assert_eq!(r.value.as_deref(), Some("[]"));
    assert!(r.display.is_empty());
}

#[test]
fn two_figures_give_two_images_in_the_order_they_were_made() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let s = venv_session();
    let r = ok(
        &s,
        "\
import matplotlib.pyplot as plt
a = plt.figure(figsize=(4, 3))
plt.plot([1, 2])
b = plt.figure(figsize=(2, 2))
plt.plot([2, 1])
plt.figure(a.number)  # making the first current again does not reorder them
plt.title('first')",
    );
    assert_eq!(r.display.len(), 2, "{r:#?}");
    assert_eq!(png_size(r.display[0].png().unwrap()), (400, 300));
    assert_eq!(png_size(r.display[1].png().unwrap()), (200, 200));
}

#[test]
fn show_displays_at_once_and_each_figure_only_once() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let s = venv_session();
    let r = ok(
        &s,
        "\
import matplotlib.pyplot as plt
plt.figure(figsize=(3, 2)); plt.plot([1, 2])
plt.show()
print('after show')
fig, ax = plt.subplots(figsize=(2, 1))
display(fig)
fig",
    );
    let sizes: Vec<_> = r
        .display
        .iter()
        .map(|d| png_size(d.png().expect("a png")))
        .collect();
    // show(), display(fig), then the value `fig`: each shown once; nothing at the end.
    assert_eq!(sizes, [(300, 200), (200, 100), (200, 100)], "{r:#?}");
    assert!(r.display[2].is_value);
    assert!(!r.display[1].is_value);
    assert_eq!(r.stdout, "after show\n");
    assert!(
        r.stderr.is_empty(),
        "no 'non-interactive' warning: {}",
        r.stderr
    );
    assert_eq!(value(&s, "plt.get_fignums()").as_deref(), Some("[]"));
}

#[test]
fn saving_a_shown_figure_to_a_file_does_not_show_it_again() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let s = venv_session();
    let dir = temp_dir("savefig");
    let path = py_str(dir.join("a.png").to_str().unwrap());
    let r = ok(
        &s,
        &format!("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\ndisplay(fig)\nfig.savefig({path})"),
    );
    assert_eq!(r.display.len(), 1, "{r:#?}");
    png_size(&std::fs::read(dir.join("a.png")).expect("the file was written"));
}

#[test]
fn a_figure_changed_after_display_is_shown_again() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let s = venv_session();
    let r = ok(
        &s,
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\ndisplay(fig)\nax.plot([3, 1, 2])",
    );
    assert_eq!(r.display.len(), 2, "{r:#?}");
    let (before, after) = (r.display[0].png().unwrap(), r.display[1].png().unwrap());
    assert_ne!(before, after);
}

#[test]
fn figures_are_closed_so_memory_does_not_grow() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let s = venv_session();
    ok(
        &s,
        "import matplotlib.pyplot as plt, gc, tracemalloc\ntracemalloc.start()",
    );
    let plot = "plt.figure(); plt.plot(list(range(1000)))";
    for _ in 0..5 {
        assert_eq!(ok(&s, plot).display.len(), 1);
    }
    ok(
        &s,
        "gc.collect(); before = tracemalloc.get_traced_memory()[0]",
    );
    for _ in 0..30 {
        assert_eq!(ok(&s, plot).display.len(), 1);
    }
    let r = ok(
        &s,
        "gc.collect(); grown = tracemalloc.get_traced_memory()[0] - before\n(len(plt.get_fignums()), grown)",
    );
    let text = r.value.unwrap();
    let (open, grown) = text
        .trim_matches(|c| c == '(' || c == ')')
        .split_once(", ")
        .unwrap();
    assert_eq!(open, "0");
    // 30 open figures would hold several MB; closed ones leave next to nothing.
    assert!(
        grown.parse::<i64>().unwrap() < 1_000_000,
        "grew {grown} bytes"
    );
}

#[test]
fn a_figure_of_a_failed_execute_still_comes_back() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let s = venv_session();
    let r = raises(
        &s,
        "import matplotlib.pyplot as plt\nplt.plot([1, 2])\n1 / 0",
        "ZeroDivisionError",
    );
    assert_eq!(r.display.len(), 1);
    png_size(r.display[0].png().unwrap());
    assert_alive(&s);
}

#[test]
fn a_stopped_executes_figures_are_closed_not_passed_on() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let s = venv_session();
    // Imported first: under load the import alone may take longer than the timeout.
    ok(&s, "import matplotlib.pyplot as plt, time");
    let r = s
        .execute_with_timeout(
            "plt.plot([1, 2])\ntime.sleep(5)",
            Duration::from_millis(400),
        )
        .expect("execute");
    assert_eq!(r.status, pysession::Status::Timeout);
    assert!(r.display.is_empty(), "{r:#?}");
    let r = ok(&s, "print('unrelated')\nlen(plt.get_fignums())");
    assert!(r.display.is_empty(), "{r:#?}");
    assert_eq!(r.value.as_deref(), Some("0"));
}

#[test]
fn a_restart_closes_the_figures_of_the_old_state() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let s = venv_session();
    // A thread of the session makes a figure after its execute has ended.
    ok(
        &s,
        "import matplotlib.pyplot as plt, threading, time\nt = threading.Thread(target=lambda: (time.sleep(0.2), plt.figure()))\nt.start()",
    );
    std::thread::sleep(Duration::from_millis(600));
    s.restart().expect("restart");
    let r = ok(
        &s,
        "import matplotlib.pyplot as plt\nlen(plt.get_fignums())",
    );
    assert_eq!(r.value.as_deref(), Some("0"));
    assert!(r.display.is_empty(), "{r:#?}");
}

#[test]
fn agg_chosen_by_the_user_is_left_to_the_user() {
    if subinterpreter() {
        return import_is_refused("import matplotlib", "numpy");
    }
    let s = venv_session();
    let r = ok(
        &s,
        "import matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt\nplt.plot([1])\nprint(plt.get_backend())",
    );
    assert_eq!(r.stdout.to_lowercase(), "agg\n");
    assert!(r.display.is_empty(), "{r:#?}");
    assert_eq!(value(&s, "len(plt.get_fignums())").as_deref(), Some("1"));
}

#[test]
fn a_backend_the_user_chose_is_kept() {
    if subinterpreter() {
        return import_is_refused("import matplotlib", "numpy");
    }
    let s = venv_session();
    let r = ok(
        &s,
        "import matplotlib\nmatplotlib.use('svg')\nimport matplotlib.pyplot as plt\nplt.plot([1])\nprint(plt.get_backend())",
    );
    assert_eq!(r.stdout, "svg\n");
    // Not a backend that renders for the session: figures stay the user's business.
    assert!(r.display.is_empty(), "{r:#?}");
    assert_eq!(value(&s, "len(plt.get_fignums())").as_deref(), Some("1"));
}

#[test]
fn sessions_get_their_own_figures() {
    if subinterpreter() {
        return import_is_refused(PYPLOT, "numpy");
    }
    let a = venv_session();
    let b = venv_session();
    ok(&a, "import matplotlib.pyplot as plt, time");
    ok(&b, "import matplotlib.pyplot as plt");
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| {
            ok(
                &a,
                "fig = plt.figure(figsize=(2, 2)); fig.gca().plot([1, 2]); time.sleep(0.6)",
            )
        });
        std::thread::sleep(Duration::from_millis(200));
        let fast = ok(
            &b,
            "fig = plt.figure(figsize=(3, 3)); fig.gca().plot([2, 1])",
        );
        let slow = slow.join().unwrap();
        let sizes = |r: &pysession::ExecutionResult| -> Vec<(u32, u32)> {
            r.display
                .iter()
                .map(|d| png_size(d.png().unwrap()))
                .collect()
        };
        assert_eq!(sizes(&fast), [(300, 300)], "{fast:#?}");
        assert_eq!(sizes(&slow), [(200, 200)], "{slow:#?}");
    });
}

#[test]
fn a_pil_image_displays_as_png() {
    if subinterpreter() {
        return import_is_refused("from PIL import Image", "PIL");
    }
    let s = venv_session();
    let r = ok(
        &s,
        "from PIL import Image\nimg = Image.new('RGB', (37, 21), 'red')\nimg",
    );
    assert_eq!(r.display.len(), 1, "{r:#?}");
    assert!(r.display[0].is_value);
    assert_eq!(png_size(r.display[0].png().unwrap()), (37, 21));
    // The PNG decodes back to the same image in Python.
    ok(&s, "import io\npng = img._repr_png_()");
    let r = ok(&s, "Image.open(io.BytesIO(png)).getpixel((5, 5))");
    assert_eq!(r.value.as_deref(), Some("(255, 0, 0)"));
    let r = ok(&s, "display(img.resize((8, 4)))");
    assert_eq!(png_size(r.display[0].png().unwrap()), (8, 4));
}

#[test]
fn a_dataframe_displays_as_html_and_text() {
    if subinterpreter() {
        return import_is_refused("import pandas as pd, numpy as np", "numpy");
    }
    let s = venv_session();
    let r = ok(
        &s,
        "import pandas as pd, numpy as np\ndf = pd.DataFrame({'city': ['Oslo', 'Lima'], 'temp': np.array([3.5, 19.25])})\ndf",
    );
    assert_eq!(r.display.len(), 1, "{r:#?}");
    let d = &r.display[0];
    assert!(d.is_value);
    let html = d.html().expect("text/html");
    assert!(
        html.contains("<table") && html.contains("class=\"dataframe\""),
        "{html}"
    );
    assert!(
        html.contains("<td>Oslo</td>") && html.contains("<td>19.25</td>"),
        "{html}"
    );
    let plain = d.plain().expect("text/plain");
    assert_eq!(Some(plain), r.value.as_deref());
    assert!(plain.contains("city") && plain.contains("Lima"), "{plain}");
    // A numpy array has no rich representation: its repr is enough.
    let r = ok(&s, "np.arange(3)");
    assert_eq!(r.value.as_deref(), Some("array([0, 1, 2])"));
    assert!(r.display.is_empty());
}

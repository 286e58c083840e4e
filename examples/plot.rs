//! A session draws with matplotlib; the PNGs of its figures are written to files.
//!
//! ```text
//! cargo run --example plot -- [PYTHON] [OUT_DIR]
//! ```
//!
//! `PYTHON` is the `python` of a virtual environment with matplotlib in it (default:
//! `target/test-venv/bin/python`, which `.ci/run` makes); `OUT_DIR` defaults to
//! `target/plots`.
use std::path::PathBuf;

use pysession::Session;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let python = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/test-venv/bin/python"));
    let out_dir = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/plots"));
    std::fs::create_dir_all(&out_dir)?;

    let session = Session::builder().python_executable(&python).start()?;
    let setup = session.execute("import math\nimport matplotlib.pyplot as plt")?;
    if !setup.success() {
        return Err(format!(
            "matplotlib does not import with {} ({}); pass the python of an environment \
             that has it, or run .ci/run once to make target/test-venv",
            python.display(),
            setup.error.map(|e| e.to_string()).unwrap_or_default()
        )
        .into());
    }

    // Step by step, as an agent would: data first, then two figures in one step.
    session.execute("xs = [i / 10 for i in range(63)]")?;
    let result = session.execute(
        "\
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(xs, [math.sin(x) for x in xs], label='sin')
ax.plot(xs, [math.cos(x) for x in xs], label='cos')
ax.legend()
ax.set_title('one period')

plt.figure(figsize=(4, 4))
plt.scatter([math.cos(x) for x in xs], [math.sin(x) for x in xs], s=8)
plt.title('a circle')
print('two figures drawn')",
    )?;
    print!("{}", result.stdout);

    let mut written = 0;
    for item in &result.display {
        if let Some(png) = item.png() {
            written += 1;
            let path = out_dir.join(format!("figure-{written}.png"));
            std::fs::write(&path, png)?;
            println!(
                "{}: {} bytes ({})",
                path.display(),
                png.len(),
                item.plain().unwrap_or("")
            );
        }
    }
    // The figures were closed once shown, so the session holds none of them.
    let open = session.execute("len(plt.get_fignums())")?;
    println!(
        "figures still open in the session: {}",
        open.value.unwrap_or_default()
    );
    Ok(())
}

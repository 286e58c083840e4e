//! A session at work: define, use, print, fail, time out, restart.
use std::time::Duration;

use pysession::Session;

fn main() -> Result<(), pysession::Error> {
    let session = Session::builder()
        .startup_code("import math")
        .timeout(Duration::from_secs(10))
        .start()?;

    let steps = [
        "x = 10; y = 20",
        "z = x + y\nprint(f'z = {z}')",
        "math.sqrt(z)",
        "def area(r):\n    return math.pi * r ** 2\n\n[round(area(r), 2) for r in range(1, 4)]",
        "1 / 0",
        "import time\nfor i in range(3):\n    print('tick', i)\n    time.sleep(0.05)",
    ];
    for code in steps {
        show(code, &session.execute(code)?);
    }

    let code = "n = 0\nwhile True:\n    n += 1";
    show(
        code,
        &session.execute_with_timeout(code, Duration::from_millis(200))?,
    );
    show("n > 0", &session.execute("n > 0")?);

    session.restart()?;
    show(
        "after restart(): 'x' in dir()",
        &session.execute("'x' in dir()")?,
    );
    show(
        "math.pi  # startup code ran again",
        &session.execute("math.pi")?,
    );
    Ok(())
}

fn show(code: &str, r: &pysession::ExecutionResult) {
    println!(">>> {}", code.replace('\n', "\n... "));
    print!("{}", r.stdout);
    if let Some(value) = &r.value {
        println!("{value}");
    }
    if let Some(e) = &r.error {
        println!("[{}] {}: {}", r.status, e.type_name, e.message);
    }
    println!("    ({} in {:.3} ms)\n", r.status, r.duration_ms);
}

//! Watching code run: output is printed as the code writes it, then the result.
//!
//! `cargo run --example stream`
use pysession::{Event, Session};

fn main() -> Result<(), pysession::Error> {
    let session = Session::new()?;
    let code = "import time, sys\n\
                for step in range(1, 6):\n    \
                    print(f'step {step} of 5', flush=True)\n    \
                    time.sleep(0.3)\n\
                print('almost done', file=sys.stderr)\n\
                sum(range(1000))";
    for event in session.submit(code)? {
        match event {
            // Chunks are the code's own writes (`print` writes its text, then the end
            // of the line), so they are printed as they come.
            Event::Stdout(text) => {
                print!("{text}");
                let _ = std::io::Write::flush(&mut std::io::stdout());
            }
            Event::Stderr(text) => eprint!("{text}"),
            Event::Finished(result) => {
                let result = result?;
                println!(
                    "finished: {} in {:.0} ms, value {:?}",
                    result.status, result.duration_ms, result.value
                );
            }
            _ => {}
        }
    }
    Ok(())
}

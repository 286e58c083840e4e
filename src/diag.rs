//! Diagnostics for whoever runs the program, as `tracing` events (target `pysession`)
//! with the `tracing` feature. Without it, only what must not go unseen is printed,
//! as one line on stderr; everything a caller needs is in results and errors anyway.

/// Something went wrong that no result or error reports: a `tracing` warning, or a
/// line on stderr without the feature.
macro_rules! must_warn {
    ($($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        tracing::warn!(target: "pysession", $($arg)*);
        #[cfg(not(feature = "tracing"))]
        eprintln!("pysession: {}", format_args!($($arg)*));
    }};
}

/// A notable event that results already report (code given up on, a process that
/// died): a `tracing` warning, nothing without the feature.
macro_rules! notice {
    ($($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        tracing::warn!(target: "pysession", $($arg)*);
        #[cfg(not(feature = "tracing"))]
        let _ = format_args!($($arg)*);
    }};
}

/// The life of a session (started, restarted, stopped): a `tracing` debug event,
/// nothing without the feature.
macro_rules! lifecycle {
    ($($arg:tt)*) => {{
        #[cfg(feature = "tracing")]
        tracing::debug!(target: "pysession", $($arg)*);
        #[cfg(not(feature = "tracing"))]
        let _ = format_args!($($arg)*);
    }};
}

pub(crate) use {lifecycle, must_warn, notice};

//! One logging setup for every cceone program, so they all read `RUST_LOG` and
//! `CCEONE_LOG_FORMAT` the same way and write plain text wherever the output is not a terminal:
//! ANSI colour codes in a log file, `kubectl logs` or a journal are noise that every reader has
//! to strip.

use std::io::IsTerminal;

/// `CCEONE_LOG_FORMAT=json` switches the logs to JSON lines.
pub const LOG_FORMAT: &str = "CCEONE_LOG_FORMAT";
/// Set to anything non-empty, turns colour off even on a terminal (<https://no-color.org>).
pub const NO_COLOR: &str = "NO_COLOR";

/// How the logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Human-readable lines with ANSI colours.
    Coloured,
    /// Human-readable lines, no escape codes.
    Plain,
    /// One JSON object per line.
    Json,
}

impl Style {
    /// The style for a given `CCEONE_LOG_FORMAT`, `NO_COLOR` and whether the logs go to a
    /// terminal (pure, so it is tested without one).
    pub fn choose(log_format: Option<&str>, no_color: Option<&str>, terminal: bool) -> Style {
        if log_format.is_some_and(|f| f.trim().eq_ignore_ascii_case("json")) {
            Style::Json
        } else if terminal && no_color.is_none_or(str::is_empty) {
            Style::Coloured
        } else {
            Style::Plain
        }
    }
}

/// Install the global subscriber: the filter from `RUST_LOG`, else `default_filter` (for
/// example `"info,kube=warn"`), writing to standard output in the [`Style`] the environment
/// and the output call for. Call once, first thing in `main`.
pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| default_filter.into());
    let style = Style::choose(
        std::env::var(LOG_FORMAT).ok().as_deref(),
        std::env::var(NO_COLOR).ok().as_deref(),
        std::io::stdout().is_terminal(),
    );
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match style {
        Style::Json => builder.json().init(),
        Style::Coloured => builder.with_ansi(true).init(),
        Style::Plain => builder.with_ansi(false).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let cases = [
            (None, None, true, Style::Coloured),
            (None, None, false, Style::Plain),
            (None, Some("1"), true, Style::Plain),
            (None, Some(""), true, Style::Coloured),
            (Some("text"), None, true, Style::Coloured),
            (Some("text"), None, false, Style::Plain),
            (Some("json"), None, true, Style::Json),
            (Some(" JSON "), None, false, Style::Json),
            (Some("json"), Some("1"), false, Style::Json),
        ];
        for (format, no_color, terminal, want) in cases {
            assert_eq!(
                Style::choose(format, no_color, terminal),
                want,
                "{format:?} {no_color:?} {terminal}"
            );
        }
    }
}

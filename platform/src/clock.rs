//! The platform's clock: real time, optionally shifted by a number of seconds read from a file
//! on every reading, so end-to-end tests can move the meter across billing hours without
//! waiting for them (`cceone up --clock-offset-file`). Only the meter reads it.

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};

/// Real time, or real time plus the seconds in a file.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_file: Option<PathBuf>,
}

impl Clock {
    /// Real time.
    pub fn real() -> Clock {
        Clock::default()
    }

    /// Real time plus the whole seconds written in `file` (missing, empty or unreadable: 0).
    pub fn with_offset_file(file: PathBuf) -> Clock {
        Clock {
            offset_file: Some(file),
        }
    }

    /// The current offset in seconds.
    pub fn offset_secs(&self) -> i64 {
        self.offset_file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        let now = Timestamp::now();
        now.checked_add(SignedDuration::from_secs(self.offset_secs()))
            .unwrap_or(now)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_file_moves_time() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("offset");
        let clock = Clock::with_offset_file(f.clone());
        assert_eq!(clock.offset_secs(), 0);
        std::fs::write(&f, "7200\n").unwrap();
        let shifted = clock.now();
        assert!(shifted.as_second() - Timestamp::now().as_second() >= 7199);
        assert_eq!(Clock::real().offset_secs(), 0);
    }
}

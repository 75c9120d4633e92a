//! apimachinery's `duration.HumanDuration`: a succinct, 2–3 significant figure
//! rendering of a duration ("5s", "3m2s", "10m", "5h", "2d3h", "4y").

use jiff::SignedDuration;

/// Kubernetes' HumanDuration ("5s", "3m2s", "10m", "5h", "2d3h", "4y"),
/// exactly as apimachinery's `duration.HumanDuration`.
///
/// Durations down to -1s (clock skew) print as `0s`; anything more negative
/// prints `<invalid>`.
pub fn human_duration(d: SignedDuration) -> String {
    // Go: int(d.Seconds()), truncating toward zero like `as_secs`.
    let seconds = d.as_secs();
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            return format!("{hours}h");
        }
        return format!("{hours}h{m}m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            return format!("{}d", hours / 24);
        }
        return format!("{}d{h}h", hours / 24);
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            return format!("{}y", hours / 24 / 365);
        }
        return format!("{}y{dy}d", hours / 24 / 365);
    }
    format!("{}y", hours / 24 / 365)
}

//! CronJob schedules as kube-apiserver parses them: `cron.ParseStandard` of
//! github.com/robfig/cron/v3 (five fields, names for months and weekdays, `@` descriptors,
//! `@every <duration>`), with its error texts, which `validateScheduleFormat` in
//! `pkg/apis/batch/validation/validation.go` passes on as the field's detail.

/// Bounds and names of one field.
struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
/// Names index from `min` (jan = 1).
const MONTH: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// Parse a standard schedule; the error is robfig/cron's message.
pub(super) fn parse_standard(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty spec string".into());
    }
    let mut spec = spec;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        // The location is checked against the tz database upstream; an empty one fails.
        let (tz, rest) = spec.split_once(' ').unwrap_or((spec, ""));
        let name = tz.split_once('=').map(|(_, n)| n).unwrap_or("");
        if name.is_empty() {
            return Err(format!(
                "provided bad location {name}: unknown time zone {name}"
            ));
        }
        spec = rest.trim_start();
    }
    if let Some(d) = spec.strip_prefix('@') {
        return descriptor(d, spec);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (field, bounds) in fields.iter().zip([MINUTE, HOUR, DOM, MONTH, DOW]) {
        for part in field.split(',').filter(|p| !p.is_empty()) {
            range(part, &bounds)?;
        }
    }
    Ok(())
}

fn descriptor(d: &str, spec: &str) -> Result<(), String> {
    match d {
        "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => Ok(()),
        _ => match d.strip_prefix("every ") {
            Some(dur) => {
                go_duration(dur).map_err(|e| format!("failed to parse duration {spec}: {e}"))
            }
            None => Err(format!("unrecognized descriptor: {spec}")),
        },
    }
}

/// `time.ParseDuration`'s acceptance (a signed sequence of decimal numbers with units).
fn go_duration(s: &str) -> Result<(), String> {
    let quoted = format!("time: invalid duration \"{s}\"");
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body == "0" {
        return Ok(());
    }
    if body.is_empty() {
        return Err(quoted);
    }
    let mut rest = body;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if n == 0 {
            return Err(quoted);
        }
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..u];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration \"{s}\""));
        }
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\""));
        }
        rest = &rest[u..];
    }
    Ok(())
}

/// `getRange`: `*`, `?`, `a`, `a-b`, each with an optional `/step`.
fn range(expr: &str, b: &Bounds) -> Result<(), String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        (b.min, b.max)
    } else {
        let start = int_or_name(low_and_high[0], b)?;
        match low_and_high.len() {
            1 => (start, start),
            2 => (start, int_or_name(low_and_high[1], b)?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = must_parse_int(range_and_step[1])?;
            if single {
                end = b.max;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(())
}

fn int_or_name(expr: &str, b: &Bounds) -> Result<u32, String> {
    let lower = expr.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(b.min + i as u32);
    }
    must_parse_int(expr)
}

/// `mustParseInt`, with `strconv.Atoi`'s error text.
fn must_parse_int(expr: &str) -> Result<u32, String> {
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": invalid syntax"
        ));
    }
    let n: i64 = match expr.parse() {
        Ok(n) => n,
        Err(_) => {
            return Err(format!(
                "failed to parse int from {expr}: strconv.Atoi: parsing \"{expr}\": value out of range"
            ));
        }
    };
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    u32::try_from(n).map_err(|_| format!("end of range ({n}) above maximum: {expr}"))
}

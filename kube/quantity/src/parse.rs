//! Parsing of quantity strings into exact nano-unit counts.
//!
//! The grammar is Kubernetes': `[+-]? digits [. digits] suffix`, where the
//! suffix is matched against `[eEinumkKMGTP]* [+-]? [0-9]*` first and then
//! interpreted as binary SI, decimal SI or a decimal exponent. Unlike
//! Kubernetes, a string without any digit (`"-"`, `"."`, `"Gi"`) is an error
//! rather than zero.

use crate::QuantityError;

/// Characters that may start a suffix.
const SUFFIX_CHARS: &str = "eEinumkKMGTP";

/// Most significant digits a `u128` can hold (larger values still overflow).
const MAX_DIGITS: usize = 39;

/// Parses `input` into a signed count of nano-units.
pub(crate) fn parse(input: &str) -> Result<i128, QuantityError> {
    if input.trim().is_empty() {
        return Err(QuantityError::Empty);
    }
    let format_err = || QuantityError::Format(input.to_owned());
    let bytes = input.as_bytes();
    let mut pos = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            pos += 1;
            true
        }
        Some(b'+') => {
            pos += 1;
            false
        }
        _ => false,
    };
    let int_start = pos;
    while pos < bytes.len() && bytes[pos].is_ascii_digit() {
        pos += 1;
    }
    let int_part = &input[int_start..pos];
    let mut frac_part = "";
    if pos < bytes.len() && bytes[pos] == b'.' {
        pos += 1;
        let frac_start = pos;
        while pos < bytes.len() && bytes[pos].is_ascii_digit() {
            pos += 1;
        }
        frac_part = &input[frac_start..pos];
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(format_err());
    }
    let suffix = &input[pos..];
    check_suffix_shape(suffix).ok_or_else(format_err)?;
    let (decimal_exp, binary_exp) =
        interpret_suffix(suffix).ok_or_else(|| QuantityError::Suffix {
            input: input.to_owned(),
            suffix: suffix.to_owned(),
        })?;

    // Significant digits without leading or trailing zeros, and the power of
    // ten they must be multiplied by.
    let mut digits = String::with_capacity(int_part.len() + frac_part.len());
    digits.push_str(int_part);
    digits.push_str(frac_part);
    let digits = digits.trim_start_matches('0');
    let trimmed = digits.trim_end_matches('0');
    if trimmed.is_empty() {
        return Ok(0);
    }
    let frac_len = i64::try_from(frac_part.len()).map_err(|_| format_err())?;
    let trailing = i64::try_from(digits.len() - trimmed.len()).map_err(|_| format_err())?;
    let out_of_range = || QuantityError::OutOfRange(input.to_owned());
    let nano_scale = decimal_exp
        .checked_sub(frac_len)
        .and_then(|e| e.checked_add(trailing))
        .and_then(|e| e.checked_add(9))
        .ok_or_else(out_of_range)?;

    let magnitude = scale_to_nanos(trimmed, nano_scale, binary_exp).ok_or_else(out_of_range)?;
    if negative {
        0i128
            .checked_sub_unsigned(magnitude)
            .ok_or_else(out_of_range)
    } else {
        i128::try_from(magnitude).map_err(|_| out_of_range())
    }
}

/// Checks the suffix against `[eEinumkKMGTP]*[-+]?[0-9]*`.
fn check_suffix_shape(suffix: &str) -> Option<()> {
    let rest = suffix.trim_start_matches(|c| SUFFIX_CHARS.contains(c));
    let rest = rest
        .strip_prefix('-')
        .or_else(|| rest.strip_prefix('+'))
        .unwrap_or(rest);
    rest.bytes().all(|b| b.is_ascii_digit()).then_some(())
}

/// Returns `(power of ten, power of two)` for a suffix, or `None` if unknown.
fn interpret_suffix(suffix: &str) -> Option<(i64, u32)> {
    let known = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        _ => {
            let exp = suffix
                .strip_prefix('e')
                .or_else(|| suffix.strip_prefix('E'))?;
            let unsigned = exp
                .strip_prefix('-')
                .or_else(|| exp.strip_prefix('+'))
                .unwrap_or(exp);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            // Absurd exponents saturate; the caller reports them out of range.
            let value = exp.parse::<i64>().unwrap_or(if exp.starts_with('-') {
                i64::MIN / 2
            } else {
                i64::MAX / 2
            });
            (value.clamp(i64::MIN / 2, i64::MAX / 2), 0)
        }
    };
    Some(known)
}

/// `digits * 2^binary_exp * 10^nano_scale`, rounded away from zero to an
/// integer; `None` on overflow. `digits` is non-empty, has no leading zeros
/// and ends in a non-zero digit.
fn scale_to_nanos(digits: &str, nano_scale: i64, binary_exp: u32) -> Option<u128> {
    if binary_exp == 0 && nano_scale < 0 {
        // Drop digits below one nano-unit; the last digit is non-zero, so any
        // dropped digit makes the value inexact and it rounds up.
        let drop = usize::try_from(nano_scale.unsigned_abs()).ok()?;
        if drop >= digits.len() {
            return Some(1);
        }
        let kept = &digits[..digits.len() - drop];
        return parse_digits(kept)?.checked_add(1);
    }
    let mantissa = parse_digits(digits)?.checked_mul(1u128 << binary_exp)?;
    if nano_scale >= 0 {
        let exp = u32::try_from(nano_scale).ok()?;
        mantissa.checked_mul(10u128.checked_pow(exp)?)
    } else {
        let Ok(exp) = u32::try_from(nano_scale.unsigned_abs()) else {
            return Some(1);
        };
        let Some(divisor) = 10u128.checked_pow(exp) else {
            return Some(1);
        };
        let quotient = mantissa / divisor;
        Some(if mantissa % divisor == 0 {
            quotient
        } else {
            quotient + 1
        })
    }
}

/// Parses at most [`MAX_DIGITS`] ASCII digits; `None` if they overflow.
fn parse_digits(digits: &str) -> Option<u128> {
    if digits.len() > MAX_DIGITS {
        return None;
    }
    digits.parse().ok()
}

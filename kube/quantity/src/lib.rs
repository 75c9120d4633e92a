//! Exact Kubernetes resource quantities.
//!
//! A [`Quantity`] is the number behind `cpu: 3500m` or `memory: 16Gi`. It is
//! stored exactly as a signed count of nano-units, so sums of requests never
//! drift. Parsing follows `k8s.io/apimachinery/pkg/api/resource`: an optional
//! sign, a decimal number, and a binary-SI (`Ki`..`Ei`), decimal-SI
//! (`n`, `u`, `m`, `k`, `M`..`E`) or exponent (`e3`, `E-2`) suffix. Values
//! finer than one nano-unit are rounded away from zero, as Kubernetes does.
//! [`Display`](std::fmt::Display) writes the canonical decimal-SI form
//! (`3500m`, `8`, `1k`); [`Quantity::format_binary`] writes the memory-style
//! binary form (`16Gi`).

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::str::FromStr;

mod parse;

/// Nano-units per unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// Why a string is not a valid quantity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The input was empty (or only whitespace).
    #[error("quantity is empty")]
    Empty,
    /// The numeric part is missing or malformed.
    #[error(
        "quantity {0:?} must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format(String),
    /// The suffix is not one Kubernetes knows.
    #[error("quantity {input:?} has unknown suffix {suffix:?}")]
    Suffix {
        /// The whole input.
        input: String,
        /// The offending suffix.
        suffix: String,
    },
    /// The value does not fit in the exact representation (about ±1.7e29 units).
    #[error("quantity {0:?} is out of range")]
    OutOfRange(String),
}

/// An exact quantity stored as an integer count of nano-units
/// (`"3500m"` cpu is 3 500 000 000 nanos).
///
/// Arithmetic operators saturate at the representable range instead of
/// panicking; use [`Quantity::checked_add`] / [`Quantity::checked_sub`] to
/// detect overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity {
    nanos: i128,
}

impl Quantity {
    /// The zero quantity.
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// Parses a Kubernetes quantity string such as `"4"`, `"3500m"`, `"0.5"`,
    /// `"16Gi"`, `"100M"`, `"1e3"` or `"500n"`.
    pub fn parse(s: &str) -> Result<Self, QuantityError> {
        parse::parse(s).map(|nanos| Quantity { nanos })
    }

    /// A quantity of `n` nano-units.
    pub const fn from_nanos(n: i128) -> Self {
        Quantity { nanos: n }
    }

    /// A quantity of `m` milli-units (saturating).
    pub const fn from_milli(m: i128) -> Self {
        Quantity {
            nanos: m.saturating_mul(1_000_000),
        }
    }

    /// A quantity of `n` whole units (saturating).
    pub const fn from_units(n: i128) -> Self {
        Quantity {
            nanos: n.saturating_mul(NANOS_PER_UNIT),
        }
    }

    /// The value in milli-units, rounded away from zero like Kubernetes'
    /// `MilliValue` (`1n` is `1m`).
    pub fn milli(&self) -> i128 {
        div_away_from_zero(self.nanos, 1_000_000)
    }

    /// The value in whole units, rounded away from zero like Kubernetes'
    /// `Value` (`100m` is `1`).
    pub fn value(&self) -> i128 {
        div_away_from_zero(self.nanos, NANOS_PER_UNIT)
    }

    /// The exact value in nano-units.
    pub const fn nanos(&self) -> i128 {
        self.nanos
    }

    /// Whether the quantity is zero.
    pub const fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// Whether the quantity is below zero.
    pub const fn is_negative(&self) -> bool {
        self.nanos < 0
    }

    /// The sum, or `None` on overflow.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        self.nanos
            .checked_add(other.nanos)
            .map(Quantity::from_nanos)
    }

    /// The difference, or `None` on overflow.
    pub fn checked_sub(self, other: Quantity) -> Option<Quantity> {
        self.nanos
            .checked_sub(other.nanos)
            .map(Quantity::from_nanos)
    }

    /// The quantity multiplied by an integer factor (saturating).
    pub fn saturating_mul(self, factor: i128) -> Quantity {
        Quantity::from_nanos(self.nanos.saturating_mul(factor))
    }

    /// The canonical memory-style form: a binary-SI suffix (`16Gi`, `1536Mi`)
    /// when the value is a whole number of bytes, at least 1024 in magnitude
    /// and a multiple of 1024; otherwise the decimal-SI form of
    /// [`Display`](fmt::Display) (`100M`, `512`, `1500m`).
    pub fn format_binary(&self) -> String {
        const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        if self.nanos % NANOS_PER_UNIT != 0 {
            return self.to_string();
        }
        let mut units = self.nanos / NANOS_PER_UNIT;
        if units.unsigned_abs() < 1024 || units % 1024 != 0 {
            return self.to_string();
        }
        let mut exponent = 0;
        while exponent < SUFFIXES.len() - 1 && units % 1024 == 0 {
            units /= 1024;
            exponent += 1;
        }
        format!("{units}{}", SUFFIXES[exponent])
    }
}

/// `n / d` rounded away from zero (`d > 0`).
fn div_away_from_zero(n: i128, d: i128) -> i128 {
    let q = n / d;
    match n % d {
        0 => q,
        r if r > 0 => q + 1,
        _ => q - 1,
    }
}

impl fmt::Display for Quantity {
    /// The canonical decimal-SI form, like Kubernetes for `DecimalSI`
    /// quantities: the largest multiple-of-three exponent that keeps the
    /// mantissa an integer (`7`, `3500m`, `250m`, `1k`, `100M`). Exponents
    /// beyond `E` (10^18) are written as `e21`, `e24`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let mut mantissa = self.nanos;
        let mut exponent: i32 = -9;
        while mantissa % 10 == 0 {
            mantissa /= 10;
            exponent += 1;
        }
        // Lower the exponent to a multiple of three; this only re-adds zeros
        // removed above, so it cannot overflow.
        while exponent.rem_euclid(3) != 0 {
            mantissa *= 10;
            exponent -= 1;
        }
        let suffix = match exponent {
            -9 => "n",
            -6 => "u",
            -3 => "m",
            0 => "",
            3 => "k",
            6 => "M",
            9 => "G",
            12 => "T",
            15 => "P",
            18 => "E",
            other => return write!(f, "{mantissa}e{other}"),
        };
        write!(f, "{mantissa}{suffix}")
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Quantity::parse(s)
    }
}

impl Add for Quantity {
    type Output = Quantity;

    fn add(self, rhs: Quantity) -> Quantity {
        Quantity::from_nanos(self.nanos.saturating_add(rhs.nanos))
    }
}

impl Sub for Quantity {
    type Output = Quantity;

    fn sub(self, rhs: Quantity) -> Quantity {
        Quantity::from_nanos(self.nanos.saturating_sub(rhs.nanos))
    }
}

impl Neg for Quantity {
    type Output = Quantity;

    fn neg(self) -> Quantity {
        Quantity::from_nanos(self.nanos.saturating_neg())
    }
}

impl AddAssign for Quantity {
    fn add_assign(&mut self, rhs: Quantity) {
        *self = *self + rhs;
    }
}

impl SubAssign for Quantity {
    fn sub_assign(&mut self, rhs: Quantity) {
        *self = *self - rhs;
    }
}

impl Sum for Quantity {
    fn sum<I: Iterator<Item = Quantity>>(iter: I) -> Quantity {
        iter.fold(Quantity::ZERO, Add::add)
    }
}

impl<'a> Sum<&'a Quantity> for Quantity {
    fn sum<I: Iterator<Item = &'a Quantity>>(iter: I) -> Quantity {
        iter.copied().sum()
    }
}

#[cfg(test)]
mod tests;

//! Tests for quantity parsing, formatting and arithmetic.

#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

fn q(s: &str) -> Quantity {
    Quantity::parse(s).unwrap()
}

#[test]
fn parses_common_forms() {
    let cases: &[(&str, i128)] = &[
        ("4", 4_000_000_000),
        ("3500m", 3_500_000_000),
        ("0.5", 500_000_000),
        (".5", 500_000_000),
        ("1.", 1_000_000_000),
        ("+2", 2_000_000_000),
        ("-250m", -250_000_000),
        ("16Gi", 16 * (1 << 30) * NANOS_PER_UNIT),
        ("1Ki", 1024 * NANOS_PER_UNIT),
        ("123Mi", 123 * (1 << 20) * NANOS_PER_UNIT),
        ("1.5Ki", 1536 * NANOS_PER_UNIT),
        ("100M", 100_000_000 * NANOS_PER_UNIT),
        ("1e3", 1000 * NANOS_PER_UNIT),
        ("1E3", 1000 * NANOS_PER_UNIT),
        ("1e-3", 1_000_000),
        ("1E", 1_000_000_000_000_000_000 * NANOS_PER_UNIT),
        ("128974848", 128_974_848 * NANOS_PER_UNIT),
        ("129e6", 129_000_000 * NANOS_PER_UNIT),
        ("500n", 500),
        ("500u", 500_000),
        ("0", 0),
        ("000", 0),
        ("-0", 0),
        ("0.000", 0),
        ("1k", 1000 * NANOS_PER_UNIT),
    ];
    for (input, nanos) in cases {
        assert_eq!(q(input).nanos(), *nanos, "{input}");
    }
}

#[test]
fn sub_nano_values_round_away_from_zero() {
    assert_eq!(q("0.1n").nanos(), 1);
    assert_eq!(q("1.5n").nanos(), 2);
    assert_eq!(q("-1.5n").nanos(), -2);
    assert_eq!(q("1e-20").nanos(), 1);
    assert_eq!(q("0.0000000001Ki").nanos(), 103);
    assert_eq!(
        q("1.0000000000000000000000000000000000000000001").nanos(),
        1_000_000_001
    );
}

#[test]
fn rejects_garbage() {
    for bad in [
        "", " ", "abc", "-", ".", "Gi", "1K", "1ki", "1 Gi", "1.5.5", "1Gib", "1e", "1e+", "1m5",
        "0x10", "1,5", "--1",
    ] {
        assert!(Quantity::parse(bad).is_err(), "{bad:?} should be rejected");
    }
    assert_eq!(Quantity::parse(""), Err(QuantityError::Empty));
    assert!(matches!(
        Quantity::parse("1K"),
        Err(QuantityError::Suffix { ref suffix, .. }) if suffix == "K"
    ));
    assert!(matches!(
        Quantity::parse("1e99"),
        Err(QuantityError::OutOfRange(_))
    ));
    assert!(matches!(
        Quantity::parse("1e99999999999999999999999"),
        Err(QuantityError::OutOfRange(_))
    ));
    let message = Quantity::parse("abc").unwrap_err().to_string();
    assert!(message.contains("\"abc\""), "{message}");
}

#[test]
fn canonical_decimal_formatting() {
    let cases = [
        ("7", "7"),
        ("3.5", "3500m"),
        ("0.25", "250m"),
        ("1000", "1k"),
        ("1500", "1500"),
        ("100M", "100M"),
        ("0", "0"),
        ("1e3", "1k"),
        ("1Ki", "1024"),
        ("500n", "500n"),
        ("1500n", "1500n"),
        ("10u", "10u"),
        ("-3500m", "-3500m"),
        ("1e21", "1e21"),
        ("12e20", "1200E"),
        ("0.1", "100m"),
    ];
    for (input, expected) in cases {
        assert_eq!(q(input).to_string(), expected, "{input}");
    }
}

#[test]
fn binary_formatting() {
    let cases = [
        ("16Gi", "16Gi"),
        ("1024", "1Ki"),
        ("1536", "1536"),
        ("1536Ki", "1536Ki"),
        ("1Ei", "1Ei"),
        ("2048Ei", "2048Ei"),
        ("512", "512"),
        ("100M", "100M"),
        ("1.5", "1500m"),
        ("-2Mi", "-2Mi"),
        ("0", "0"),
    ];
    for (input, expected) in cases {
        assert_eq!(q(input).format_binary(), expected, "{input}");
    }
}

#[test]
fn value_and_milli_round_up_like_kube() {
    assert_eq!(q("100m").value(), 1);
    assert_eq!(q("1").value(), 1);
    assert_eq!(q("1001m").value(), 2);
    assert_eq!(q("-100m").value(), -1);
    assert_eq!(q("1n").milli(), 1);
    assert_eq!(q("3.5").milli(), 3500);
    assert_eq!(q("0").milli(), 0);
    assert_eq!(Quantity::from_milli(3500), q("3500m"));
    assert_eq!(Quantity::from_units(4), q("4"));
    assert!(Quantity::default().is_zero());
}

#[test]
fn arithmetic() {
    let total: Quantity = ["3500m", "4", "500m"].iter().map(|s| q(s)).sum();
    assert_eq!(total.to_string(), "8");
    assert_eq!(total, q("8"));
    let mut x = q("1Gi");
    x -= q("512Mi");
    assert_eq!(x.format_binary(), "512Mi");
    x += q("512Mi");
    assert_eq!(x.format_binary(), "1Gi");
    assert_eq!((q("1") - q("1500m")).to_string(), "-500m");
    assert!(q("100m") < q("1"));
    let max = Quantity::from_nanos(i128::MAX);
    assert_eq!(max + q("1"), max);
    assert_eq!(max.checked_add(q("1")), None);
    assert_eq!(q("2").saturating_mul(3), q("6"));
    let refs = [q("1"), q("2")];
    assert_eq!(refs.iter().sum::<Quantity>(), q("3"));
    assert_eq!(
        "250m".parse::<Quantity>().unwrap(),
        Quantity::from_milli(250)
    );
}

#[test]
fn extremes_round_trip() {
    for nanos in [i128::MIN, i128::MIN + 1, i128::MAX, -1, 1] {
        let quantity = Quantity::from_nanos(nanos);
        assert_eq!(q(&quantity.to_string()), quantity, "{nanos}");
    }
    assert!(Quantity::parse("170141183460469231731687303715884105728n").is_err());
}

proptest! {
    #[test]
    fn decimal_round_trip(nanos in any::<i128>()) {
        let quantity = Quantity::from_nanos(nanos);
        prop_assert_eq!(Quantity::parse(&quantity.to_string()).unwrap(), quantity);
    }

    #[test]
    fn small_decimal_round_trip(nanos in -10_000_000_000_000i128..10_000_000_000_000) {
        let quantity = Quantity::from_nanos(nanos);
        prop_assert_eq!(Quantity::parse(&quantity.to_string()).unwrap(), quantity);
    }

    #[test]
    fn binary_round_trip(units in -1_000_000_000i128..1_000_000_000, shift in 0u32..40) {
        let quantity = Quantity::from_units(units << shift);
        prop_assert_eq!(Quantity::parse(&quantity.format_binary()).unwrap(), quantity);
    }

    #[test]
    fn milli_string_round_trip(milli in -1_000_000_000i128..1_000_000_000) {
        let quantity = Quantity::parse(&format!("{milli}m")).unwrap();
        prop_assert_eq!(quantity.milli(), milli);
        prop_assert_eq!(quantity, Quantity::from_milli(milli));
    }

    #[test]
    fn parse_never_panics(s in "[-+]?[0-9.]{0,6}[eEinumkKMGTP]{0,2}[-+]?[0-9]{0,3}") {
        let _ = Quantity::parse(&s);
    }
}

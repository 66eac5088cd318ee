//! Debian version order, as dpkg compares versions (`dpkg --compare-versions`).
//!
//! A version is `[epoch:]upstream[-revision]`. Epochs compare as numbers; upstream and
//! revision compare piecewise: a run of non-digits (where `~` sorts before everything,
//! even the end of the string, and letters sort before other characters), then a run of
//! digits compared as a number, and so on.

use std::cmp::Ordering;

/// Compares two Debian versions the way dpkg does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (epoch_a, upstream_a, revision_a) = split(a);
    let (epoch_b, upstream_b, revision_b) = split(b);
    epoch_a
        .cmp(&epoch_b)
        .then_with(|| verrevcmp(upstream_a.as_bytes(), upstream_b.as_bytes()))
        .then_with(|| verrevcmp(revision_a.as_bytes(), revision_b.as_bytes()))
}

/// `(epoch, upstream, revision)`; a missing epoch is 0, a missing revision is empty.
fn split(version: &str) -> (u64, &str, &str) {
    let (epoch, rest) = match version.split_once(':') {
        Some((epoch, rest)) if epoch.bytes().all(|c| c.is_ascii_digit()) => {
            (epoch.parse().unwrap_or(0), rest)
        }
        _ => (0, version),
    };
    match rest.rsplit_once('-') {
        Some((upstream, revision)) => (epoch, upstream, revision),
        None => (epoch, rest, ""),
    }
}

/// The weight of one non-digit position: `~` before the end of the string, the end (and
/// digits) before letters, letters before everything else.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let is_digit = |s: &[u8], i: usize| s.get(i).is_some_and(u8::is_ascii_digit);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !is_digit(a, i)) || (j < b.len() && !is_digit(b, j)) {
            let (wa, wb) = (weight(a.get(i).copied()), weight(b.get(j).copied()));
            if wa != wb {
                return wa.cmp(&wb);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while is_digit(a, i) && is_digit(b, j) {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a, i) {
            return Ordering::Greater;
        }
        if is_digit(b, j) {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn less(a: &str, b: &str) {
        assert_eq!(compare(a, b), Ordering::Less, "{a} < {b}");
        assert_eq!(compare(b, a), Ordering::Greater, "{b} > {a}");
    }

    #[test]
    fn the_versions_we_publish() {
        less("2.14.6-1", "2.15.1-1");
        less("2.15.1-1", "2.15.1-2");
        less("2.9.25-1", "2.10.0-1");
        less("2.15.1~rc1-1", "2.15.1-1");
        less("2.15.1~rc1-1", "2.15.1~rc2-1");
        less("2.15.1-1", "2.15.1-1+deb12u1");
        less("2.15.1-9", "2.15.1-10");
        less("9.9.9-1", "1:0.1-1");
        assert_eq!(compare("2.15.1-1", "0:2.15.1-1"), Ordering::Equal);
        assert_eq!(compare("1.01-1", "1.1-1"), Ordering::Equal);
    }

    #[test]
    fn dpkg_corner_cases() {
        // From dpkg's own test suite (t-version.c).
        less("1.0~rc1", "1.0");
        less("1.0~~", "1.0~~a");
        less("1.0~~a", "1.0~");
        less("1.0~", "1.0");
        less("1.0", "1.0a");
        less("1.0a", "1.0+");
        less("1.0", "1.0.1");
        less("1.0-1", "1.0-1.1");
        less("0.9", "1.0");
        less("1.2.3", "1.2.3a");
        less("a", "b");
        less("1.0-a", "1.0-b");
        less("1.0", "1.0-0.1");
        assert_eq!(compare("1.0", "1.0-0"), Ordering::Equal);
    }

    #[test]
    fn epochs_must_be_numbers() {
        // dpkg refuses `a:1.0` as a version; compared, its `a:` is part of the upstream
        // version, not an epoch that parses as 0.
        less("a:1.0", "1:0.1");
        less("a:1.0", "b:1.0");
        less("1.0a-1", "a:1.0");
        less("1.0+b1-1", "1:1.0-1");
    }
}

//! RPM version order, as rpm compares versions (`rpmvercmp`, what dnf and createrepo_c
//! use).

/// rpm's version comparison (`rpmvercmp`): alternating digit and letter segments, digits
/// newer than letters, `~` older than anything, `^` newer than the end of a version.
pub fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    if a == b {
        return Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while let Some((&c, rest)) = a.split_first() {
            if !sep(c) {
                break;
            }
            a = rest;
        }
        while let Some((&c, rest)) = b.split_first() {
            if !sep(c) {
                break;
            }
            b = rest;
        }
        match (a.first(), b.first()) {
            (Some(b'~'), Some(b'~')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Less,
            (_, Some(b'~')) => return Greater,
            (Some(b'^'), Some(b'^')) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'^'), None) => return Greater,
            (None, Some(b'^')) => return Less,
            (Some(b'^'), _) => return Less,
            (_, Some(b'^')) => return Greater,
            (None, _) | (_, None) => break,
            _ => {}
        }
        let numeric = a[0].is_ascii_digit();
        let class = |c: &u8| {
            if numeric {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let la = a.iter().take_while(|c| class(c)).count();
        let lb = b.iter().take_while(|c| class(c)).count();
        let (sa, sb) = (&a[..la], &b[..lb]);
        if lb == 0 {
            // Segments of different types: numeric is newer.
            return if numeric { Greater } else { Less };
        }
        let ord = if numeric {
            let ta = trim_zeros(sa);
            let tb = trim_zeros(sb);
            ta.len().cmp(&tb.len()).then(ta.cmp(tb))
        } else {
            sa.cmp(sb)
        };
        if ord != Equal {
            return ord;
        }
        a = &a[la..];
        b = &b[lb..];
    }
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Equal,
        (true, false) => Less,
        _ => Greater,
    }
}

fn trim_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&c| c == b'0').count();
    &s[n..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn vercmp() {
        assert_eq!(compare("1.0", "1.0"), Equal);
        assert_eq!(compare("2.17", "2.3"), Greater);
        assert_eq!(compare("1.0~rc1", "1.0"), Less);
        assert_eq!(compare("1.0^git1", "1.0"), Greater);
        assert_eq!(compare("1.0a", "1.0"), Greater);
        assert_eq!(compare("1.a", "1.1"), Less);
        assert_eq!(compare("010", "10"), Equal);
    }
}

//! Checks of downloads against what they must be.

use crate::error::{Error, Result};

/// Compares an actual digest with an expected one, naming what the expectation came from.
pub fn expect_hash(file: &str, against: &str, expected: &str, actual: &str) -> Result<()> {
    if expected.eq_ignore_ascii_case(actual) {
        Ok(())
    } else {
        Err(Error::HashMismatch {
            file: file.to_string(),
            against: against.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{sha256_hex, Sha256Sums};

    const A: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn parses_upstream_format() {
        let text = format!(
            "{A}  nats-server-v2.15.1-linux-amd64.tar.gz\n\n{} *b.zip\n",
            A.to_uppercase()
        );
        let sums = Sha256Sums::parse("u", &text).unwrap();
        assert_eq!(
            sums.get("nats-server-v2.15.1-linux-amd64.tar.gz").unwrap(),
            A
        );
        assert_eq!(sums.get("b.zip").unwrap(), A);
        assert!(matches!(sums.get("c"), Err(Error::MissingChecksum { .. })));
    }

    #[test]
    fn refuses_malformed_lines() {
        for bad in [
            "nothex  file",
            &format!("{A} file"),
            &format!("{A}  "),
            &format!("{A}  ../escape"),
            &A[..63],
        ] {
            let err = Sha256Sums::parse("u", bad).unwrap_err();
            assert!(
                matches!(err, Error::MalformedChecksums { line: 1, .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn mismatch_names_both_hashes() {
        let err = expect_hash("f.tar.gz", "SHA256SUMS", A, &sha256_hex(b"x")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("f.tar.gz") && msg.contains(A) && msg.contains(&sha256_hex(b"x")),
            "{msg}"
        );
        assert_eq!(sha256_hex(b"test"), A);
    }
}

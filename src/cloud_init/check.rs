//! What the user-data may carry: each setting checked before anything is written, with
//! the setting named when it is refused.

use pgp::composed::{Deserializable, SignedPublicKey};

const KEY_BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const KEY_END: &str = "-----END PGP PUBLIC KEY BLOCK-----";

/// The repository's public key as it goes into the user-data (a YAML block scalar): one
/// ASCII-armored OpenPGP public key that the pgp crate reads, whose every line is printable
/// ASCII starting with no blank (a carriage return or another line break would end the
/// scalar, a leading blank would change its indentation). Lines may end in CRLF; the key
/// is returned with LF endings. The reason it is refused never quotes the key's text.
pub fn check_key(key: &str) -> std::result::Result<String, String> {
    let key = key.replace("\r\n", "\n");
    if key.contains('\r') {
        return Err("has a carriage return inside a line (lines end in LF or CRLF)".into());
    }
    let trimmed = key.trim_matches(|c| c == '\n' || c == ' ');
    for (i, line) in trimmed.split('\n').enumerate() {
        if line.chars().any(|c| !(c == ' ' || c.is_ascii_graphic())) {
            return Err(format!(
                "line {} has a character other than printable ASCII",
                i + 1
            ));
        }
        if line.starts_with(' ') {
            return Err(format!("line {} starts with a blank", i + 1));
        }
    }
    if !trimmed.starts_with(KEY_BEGIN)
        || !trimmed.ends_with(KEY_END)
        || trimmed.matches("-----BEGIN ").count() != 1
    {
        return Err(format!(
            "must be exactly one ASCII-armored OpenPGP public key ({KEY_BEGIN})"
        ));
    }
    let keys = SignedPublicKey::from_string_many(trimmed)
        .map(|(keys, _)| keys.collect::<Vec<_>>())
        .map_err(|_| "is not an OpenPGP public key (it does not parse)".to_string())?;
    match keys.as_slice() {
        [Ok(_)] => Ok(format!("{trimmed}\n")),
        [Err(_)] => Err("is not an OpenPGP public key (it does not parse)".into()),
        _ => Err(format!(
            "holds {} keys; expected one OpenPGP public key",
            keys.len()
        )),
    }
}

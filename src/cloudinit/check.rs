//! What the user-data may carry: each setting checked before anything is written, with
//! the setting named when it is refused.

use super::invalid;
use crate::error::Result;

pub(super) fn check_url(url: &str) -> Result<&str> {
    let url = url.trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid("repository URL", url, "must start with https:// or http://"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("repository URL", url, "has no host"));
    }
    // No blanks (the apt source line is split on them), no quotes, and no `$`, which
    // cloud-init would take for one of its template variables.
    if let Some(c) = url
        .chars()
        .find(|c| !(c.is_ascii_graphic()) || "\"'\\$`<>{}|^[]".contains(*c))
    {
        return Err(invalid(
            "repository URL",
            url,
            format!("contains {c:?}, which a source line or repo file cannot carry"),
        ));
    }
    Ok(url)
}

pub(super) fn check_key(key: &str) -> Result<String> {
    let key = key.replace("\r\n", "\n");
    let trimmed = key.trim();
    let short = trimmed.lines().next().unwrap_or("");
    if !trimmed.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----")
        || !trimmed.ends_with("-----END PGP PUBLIC KEY BLOCK-----")
    {
        return Err(invalid(
            "repository key",
            short,
            "must be one ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)",
        ));
    }
    if trimmed.matches("-----BEGIN ").count() != 1
        || trimmed
            .chars()
            .any(|c| c != '\n' && !(c == ' ' || c.is_ascii_graphic()))
    {
        return Err(invalid(
            "repository key",
            short,
            "must be exactly one armored public key block of printable ASCII",
        ));
    }
    Ok(format!("{trimmed}\n"))
}

fn name_chars(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The rule `nimsforest-cluster-conf` applies: it becomes the NATS cluster name.
pub(crate) fn check_forest_id(id: &str) -> Result<()> {
    if name_chars(id) {
        Ok(())
    } else {
        Err(invalid(
            "forest id",
            id,
            "must be letters, digits, '-', '_' or '.' (it names the NATS cluster)",
        ))
    }
}

pub(super) fn check_word(setting: &'static str, value: &str) -> Result<()> {
    if name_chars(value) {
        Ok(())
    } else {
        Err(invalid(
            setting,
            value,
            "must be letters, digits, '-', '_' or '.'",
        ))
    }
}

/// One DNS label: cloud-init would take the first label of a dotted name as the host
/// name, which would then differ from the server name asked for.
pub(crate) fn check_host_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "server name",
            name,
            "must be a host name of letters, digits and '-' (one label, at most 63 characters, \
             no '-' at either end)",
        ))
    }
}

/// `nats-route://host:port` or `nats://host:port`, host a DNS name, an IPv4 address or a
/// bracketed IPv6 address.
pub(super) fn check_route(route: &str) -> Result<()> {
    let bad = |reason: &str| invalid("route", route, reason.to_string());
    let rest = route
        .strip_prefix("nats-route://")
        .or_else(|| route.strip_prefix("nats://"))
        .ok_or_else(|| bad("must look like nats-route://host:6222"))?;
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("has an unclosed '[' in its IPv6 address"))?;
        if addr.is_empty()
            || !addr
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(bad("has an invalid IPv6 address"));
        }
        let port = after
            .strip_prefix(':')
            .ok_or_else(|| bad("needs a port: nats-route://[addr]:6222"))?;
        (addr, port)
    } else {
        rest.rsplit_once(':')
            .ok_or_else(|| bad("needs a port: nats-route://host:6222"))?
    };
    let host_ok = !host.is_empty()
        && (host.contains(':')
            || host.split('.').all(|l| {
                !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    if !host_ok {
        return Err(bad(
            "has an invalid host (a DNS name, an IPv4 address or [IPv6])",
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.chars().all(|c| c.is_ascii_digit()) => Ok(()),
        _ => Err(bad("has an invalid port (1 to 65535)")),
    }
}

//! URLs given on the command line: each is parsed with the `url` crate and what the tool
//! writes or fetches is the parser's serialization, never the text as given. A password in
//! a URL is used (a mirror's basic authentication), never printed: every message shows a
//! URL through [`redact`].
//!
//! The raw text is checked before parsing, because the parser quietly drops tabs and
//! newlines, trims blanks and control characters and turns `\` into `/`: what it accepted
//! would not be what was asked for.

use std::fmt;

use url::{Host, Url};

use crate::error::{Error, Result};

/// A URL as given on the command line or in the environment; its `Debug` hides a password.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlArg(String);

impl UrlArg {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Never fails: the URL is checked where it is used, so that a refusal can hide its
/// password (clap's own errors repeat a refused value as given).
impl From<String> for UrlArg {
    fn from(raw: String) -> Self {
        Self(raw)
    }
}

impl fmt::Debug for UrlArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact(&self.0))
    }
}

/// `url` with its password replaced by `***` (`https://user:***@host/...`). A user name
/// without a password is often a token, so it is replaced instead (`https://***@host`).
/// Text that does not parse as a URL loses everything before its last `@` after the scheme.
pub fn redact(url: &str) -> String {
    if let Ok(mut parsed) = Url::parse(url) {
        let has_password = parsed.password().is_some();
        let has_user = !parsed.username().is_empty();
        // `user:pass@host` parses too, as the scheme `user` and an opaque path.
        if !has_password && !has_user && (parsed.has_host() || !url.contains('@')) {
            return url.to_string();
        }
        let redacted = if has_password {
            parsed.set_password(Some("***"))
        } else {
            parsed.set_username("***")
        };
        if redacted.is_ok() {
            return parsed.as_str().to_string();
        }
    }
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]),
        None => url.to_string(),
    }
}

fn invalid(setting: &'static str, raw: &str, reason: impl Into<String>) -> Error {
    Error::InvalidSetting {
        setting,
        value: redact(raw),
        reason: reason.into(),
    }
}

/// Refuses control characters and blanks anywhere in the text, before the parser would
/// drop or encode them.
fn no_blanks_or_controls(setting: &'static str, raw: &str) -> Result<()> {
    match raw.chars().find(|c| c.is_control() || c.is_whitespace()) {
        Some(c) => Err(invalid(
            setting,
            raw,
            format!("contains {c:?}; a URL has no blanks or control characters"),
        )),
        None => Ok(()),
    }
}

fn parse(setting: &'static str, raw: &str) -> Result<Url> {
    Url::parse(raw).map_err(|e| invalid(setting, raw, format!("is not a URL ({e})")))
}

/// http or https, and a host right after `://` as written: the parser would also take
/// `https:/host` or `https:///host`, which is not what anyone meant to write.
fn http_with_host(setting: &'static str, raw: &str, url: &Url) -> Result<()> {
    if !matches!(url.scheme(), "https" | "http") {
        return Err(invalid(setting, raw, "must start with https:// or http://"));
    }
    let authority = raw
        .split_once("://")
        .map(|(_, rest)| rest)
        .filter(|rest| !rest.starts_with('/'));
    if url.host().is_none() || authority.is_none() {
        return Err(invalid(
            setting,
            raw,
            "has no host after https:// or http://",
        ));
    }
    Ok(())
}

/// Nothing may follow the path: the tool appends to it.
fn no_query_or_fragment(setting: &'static str, raw: &str, url: &Url, why: &str) -> Result<()> {
    if url.query().is_some() {
        return Err(invalid(setting, raw, format!("has a query ('?'); {why}")));
    }
    if url.fragment().is_some() {
        return Err(invalid(
            setting,
            raw,
            format!("has a fragment ('#'); {why}"),
        ));
    }
    Ok(())
}

/// The serialization without a trailing `/`, ready to be followed by `/NAME`.
fn base(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

/// A release mirror (`build --mirror`, `pin --mirror`, `NIMSFOREST_MIRROR`, the
/// definition's `mirror`): http(s) with a host, files are fetched from
/// `{URL}/v{VERSION}/{file}`. It may carry `user:password@` for basic authentication;
/// errors never show the password. Returns the URL to fetch from, without a trailing `/`.
pub fn mirror_url(setting: &'static str, raw: &str) -> Result<String> {
    no_blanks_or_controls(setting, raw)?;
    let url = parse(setting, raw)?;
    http_with_host(setting, raw, &url)?;
    no_query_or_fragment(
        setting,
        raw,
        &url,
        "release files are fetched from URL/vVERSION/FILE",
    )?;
    Ok(base(&url))
}

/// Characters a repository URL may not hold although URLs may: `$` (apt's and cloud-init's
/// source lines and dnf expand `$` variables), `,` (dnf splits `baseurl` on it), quotes and
/// `\` (apt's one-line sources parse quotes; the parser would turn `\` into `/`), and the
/// characters URLs must percent-encode.
const NOT_IN_REPOSITORY_URLS: &str = "$,\"'\\`<>{}|^";

/// The URL a `repo` tree is served at, as it goes into client files another program
/// parses: apt's deb822 `URIs:` and one-line `deb` sources, dnf's `baseurl=`, cloud-init's
/// user-data. http(s) with a host; printable ASCII only (no blank, newline or control
/// character, which would end the field or the line); no credentials (they would land in
/// a world-readable file: a node gets them from `cloud-init --username/--password-file`);
/// no query or fragment (the tool appends paths); none of [`NOT_IN_REPOSITORY_URLS`];
/// `[` and `]` only around an IPv6 host. Returns the parser's serialization without a
/// trailing `/`, ready to be followed by `/apt` or `/rpm`.
pub fn repository_url(raw: &str) -> Result<String> {
    const SETTING: &str = "repository URL";
    no_blanks_or_controls(SETTING, raw)?;
    if let Some(c) = raw
        .chars()
        .find(|c| !c.is_ascii() || NOT_IN_REPOSITORY_URLS.contains(*c))
    {
        return Err(invalid(
            SETTING,
            raw,
            format!("contains {c:?}, which a source line or repo file cannot carry"),
        ));
    }
    let url = parse(SETTING, raw)?;
    http_with_host(SETTING, raw, &url)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            SETTING,
            raw,
            "carries credentials, which would be written into a world-readable file: \
             give them to `cloud-init` with --username and --password-file",
        ));
    }
    no_query_or_fragment(
        SETTING,
        raw,
        &url,
        "it names the directory the repository is served from",
    )?;
    if url.path().contains(['[', ']']) {
        return Err(invalid(
            SETTING,
            raw,
            "contains '[' or ']' outside an IPv6 host",
        ));
    }
    Ok(base(&url))
}

/// A NATS cluster route, `nats-route://HOST:PORT` or `nats://HOST:PORT`: HOST a DNS name,
/// an IPv4 address or a bracketed IPv6 address, PORT 1 to 65535, nothing else.
pub fn route_url(raw: &str) -> Result<String> {
    nats_url(
        "route",
        raw,
        &["nats-route", "nats"],
        "nats-route://host:6222",
        "routes authenticate with the forest's certificates",
    )
}

/// A core node's leaf node port, for a leaf node: `nats-leaf://HOST:PORT`.
pub fn leaf_url(raw: &str) -> Result<String> {
    nats_url(
        "hub",
        raw,
        &["nats-leaf"],
        "nats-leaf://host:7777",
        "leaf nodes authenticate with the forest's certificates",
    )
}

/// A gateway of another cluster of the forest: `nats://HOST:PORT`.
pub fn gateway_url(raw: &str) -> Result<String> {
    nats_url(
        "gateway",
        raw,
        &["nats"],
        "nats://host:7222",
        "gateways authenticate with the forest's certificates",
    )
}

/// A node's client URL for the tool itself (`--server`), `tls://HOST:PORT` (or `nats://`):
/// no credentials, since the tool connects with the forest's `sys` certificate.
pub fn server_url(raw: &str) -> Result<String> {
    nats_url(
        "--server",
        raw,
        &["tls", "nats"],
        "tls://host:4222",
        "the tool connects with the forest's sys certificate",
    )
}

/// A NATS URL of one of `schemes`, host and port and nothing else.
fn nats_url(
    setting: &'static str,
    raw: &str,
    schemes: &[&str],
    example: &str,
    why_no_credentials: &str,
) -> Result<String> {
    let bad = |reason: String| invalid(setting, raw, reason);
    if let Some(c) = raw.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(bad(format!(
            "contains {c:?}; a NATS URL is printable ASCII"
        )));
    }
    let shape = || bad(format!("must look like {example}"));
    let url = Url::parse(raw).map_err(|e| match e {
        url::ParseError::InvalidPort => bad("has an invalid port (1 to 65535)".into()),
        url::ParseError::InvalidIpv6Address => bad("has an invalid IPv6 address".into()),
        _ => shape(),
    })?;
    if !schemes.contains(&url.scheme()) {
        return Err(shape());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(format!(
            "must not carry credentials ({why_no_credentials})"
        )));
    }
    if !url.path().is_empty() || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(format!("must be {example} and nothing after it")));
    }
    let host_ok = match url.host() {
        Some(Host::Domain(name)) => name.split('.').all(|label| {
            !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }),
        Some(Host::Ipv4(_) | Host::Ipv6(_)) => true,
        None => false,
    };
    if !host_ok {
        return Err(bad(
            "has an invalid host (a DNS name, an IPv4 address or [IPv6])".into(),
        ));
    }
    match url.port() {
        Some(port) if port > 0 => Ok(url.as_str().to_string()),
        Some(_) => Err(bad("has an invalid port (1 to 65535)".into())),
        None => Err(bad(format!("needs a port: {example}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        for (url, shown) in [
            (
                "https://user:hunter2@h.example/x",
                "https://user:***@h.example/x",
            ),
            ("https://tok3n@h.example/x", "https://***@h.example/x"),
            ("https://h.example/x", "https://h.example/x"),
            // Not URLs: everything up to the last '@' goes.
            ("https://u:pa/ss@h/x y", "https://***@h/x y"),
            ("u:secret@h", "***@h"),
            // The parser drops the newline; the password still goes.
            ("https://u:p\nw@h", "https://u:***@h/"),
        ] {
            assert_eq!(redact(url), shown, "{url:?}");
        }
        let arg = UrlArg::from("https://u:hunter2@h/".to_string());
        assert!(!format!("{arg:?}").contains("hunter2"));
        assert_eq!(arg.as_str(), "https://u:hunter2@h/");
    }

    #[test]
    fn repository_urls_are_serialized_by_the_parser() {
        for (raw, want) in [
            ("https://pkg.example/nf/", "https://pkg.example/nf"),
            ("https://PKG.example:443/nf", "https://pkg.example/nf"),
            ("http://pkg.example:8080", "http://pkg.example:8080"),
            ("https://[fd00::1]:8443/a/b", "https://[fd00::1]:8443/a/b"),
            ("https://pkg.example/a/../b", "https://pkg.example/b"),
            ("https://pkg.example/a%20b", "https://pkg.example/a%20b"),
        ] {
            assert_eq!(repository_url(raw).unwrap(), want, "{raw}");
        }
    }

    #[test]
    fn repository_urls_refuse_what_a_client_file_cannot_carry() {
        for (raw, reason) in [
            ("https://h/x\nTrusted: yes", "'\\n'"),
            ("https://h/x\rTrusted: yes", "'\\r'"),
            ("https://h/x\u{0}", "'\\0'"),
            ("https://h/a b", "' '"),
            ("https://h/a\tb", "'\\t'"),
            (" https://h/a", "' '"),
            ("https://h/\u{2028}", "'\\u{2028}'"),
            ("https://h/é", "'é'"),
            ("https://h/$basearch", "'$'"),
            ("https://h/a,https://evil/", "','"),
            ("https://h\\evil/", "'\\\\'"),
            ("https://h/\"q\"", "'\"'"),
            ("ftp://h/x", "must start with https:// or http://"),
            ("file:///etc", "must start with https:// or http://"),
            ("https://", "is not a URL"),
            ("h/x", "is not a URL"),
            ("https://user:pw@h/x", "carries credentials"),
            ("https://user@h/x", "carries credentials"),
            ("https://h/x?a=1", "has a query"),
            ("https://h/x?", "has a query"),
            ("https://h/x#top", "has a fragment"),
            ("https://h/[x]", "outside an IPv6 host"),
            ("https://h:99999/", "invalid port"),
            ("https:///h/x", "has no host"),
            ("https:/h/x", "has no host"),
        ] {
            let e = repository_url(raw).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(reason), "{raw:?}: {text}");
            assert!(text.starts_with("repository URL "), "{text}");
            assert!(!text.contains('\n') && !text.contains('\r'), "{text}");
            assert_eq!(e.exit_code(), 2);
        }
        let e = repository_url("https://user:hunter2@h/x").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
        assert!(e.to_string().contains("--password-file"), "{e}");
    }

    #[test]
    fn mirror_urls_may_carry_credentials_but_nothing_after_the_path() {
        assert_eq!(
            mirror_url("--mirror", "http://u:p%40ss@127.0.0.1:8000/rel/").unwrap(),
            "http://u:p%40ss@127.0.0.1:8000/rel"
        );
        for (raw, reason) in [
            ("http://h/rel?x=1", "has a query"),
            ("http://h/rel#x", "has a fragment"),
            ("http://h/r el", "' '"),
            ("http://h/rel\n", "'\\n'"),
            ("ftp://h/rel", "must start with"),
            ("not a url", "' '"),
            ("notaurl", "is not a URL"),
        ] {
            let e = mirror_url("--mirror", raw).unwrap_err().to_string();
            assert!(e.contains(reason), "{raw:?}: {e}");
        }
        let e = mirror_url("--mirror", "http://u:hunter2@h/x?y")
            .unwrap_err()
            .to_string();
        assert!(e.contains("u:***@h") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn routes() {
        for raw in [
            "nats-route://10.0.0.1:6222",
            "nats://[fd00::3]:6222",
            "nats-route://node-2.forest.internal:6222",
        ] {
            assert_eq!(route_url(raw).unwrap(), raw);
        }
        for raw in [
            "10.0.0.1:6222",
            "nats-route://10.0.0.1",
            "nats-route://10.0.0.1:0",
            "nats-route://10.0.0.1:70000",
            "nats-route://bad host:6222",
            "nats-route://h\"x:6222",
            "nats-route://[fd00::1:6222",
            "nats-route://:6222",
            "nats-route://u:p@h:6222",
            "nats-route://h:6222/x",
            "nats-route://h:6222?x",
            "nats-route://h_x:6222",
            "https://h:6222",
        ] {
            let e = route_url(raw).unwrap_err().to_string();
            assert!(e.starts_with("route "), "{raw}: {e}");
        }
        assert!(!route_url("nats-route://u:hunter2@h:6222")
            .unwrap_err()
            .to_string()
            .contains("hunter2"));
    }
}

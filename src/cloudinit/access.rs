//! A private repository: what a node needs to read it, written where apt and dnf look for
//! it natively, and secrets only into root-owned files of mode 0600.
//!
//! | what | apt | dnf |
//! |---|---|---|
//! | user and password (HTTP basic auth) | `/etc/apt/auth.conf.d/ID.conf` (netrc-like, apt_auth.conf(5)) | the `.repo` names the user and `password=$ID_password`; the password is in `/etc/dnf/vars/ID_password` |
//! | client certificate and key (TLS) | `Acquire::https::HOST::SslCert`/`SslKey` in `/etc/apt/apt.conf.d/60ID-https`, files in `/etc/apt/ID/` | `sslclientcert`/`sslclientkey`, files in `/etc/pki/ID/` |
//! | the server's CA, for this host only | `Acquire::https::HOST::CaInfo` | `sslcacert` |
//!
//! The password never enters `sources.list.d` or `yum.repos.d`. Every secret is mode 0600:
//! owned by root, except apt's client key, which apt's https method opens after it has
//! dropped to the `_apt` user, so `_apt` owns it (apt reads the password as root).

use std::fmt::Write;

use super::{invalid, quote, write_file, Mode};
use crate::error::Result;

/// How a node proves it may read the repository, and how it recognises the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// HTTP basic authentication.
    pub basic: Option<BasicAuth>,
    /// A TLS client certificate (PEM) and its key (PEM).
    pub client: Option<ClientCertificate>,
    /// The CA (PEM) that signed the repository server's certificate, trusted for the
    /// repository's host only (never added to the system's trust store).
    pub ca_pem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Access {
    pub fn is_private(&self) -> bool {
        self.basic.is_some() || self.client.is_some()
    }

    /// Checks every part against `url` (scheme, host) before anything is written.
    pub(super) fn check(&self, url: &str) -> Result<()> {
        let https = url.starts_with("https://");
        if let Some(basic) = &self.basic {
            let token_ok = |s: &str| {
                !s.is_empty() && s.chars().all(|c| c.is_ascii_graphic()) && !s.contains('$')
            };
            if !token_ok(&basic.username) {
                return Err(invalid(
                    "repository user",
                    &basic.username,
                    "must be printable ASCII without blanks or '$'",
                ));
            }
            if !token_ok(&basic.password) {
                // Never echo the password itself.
                return Err(invalid(
                    "repository password",
                    "(from the password file)",
                    "must be one line of printable ASCII without blanks or '$' \
                     (apt's auth.conf separates tokens by blanks, dnf expands '$')",
                ));
            }
            if !https {
                return Err(invalid(
                    "repository URL",
                    url,
                    "must be https:// to carry a password",
                ));
            }
        }
        if let Some(client) = &self.client {
            check_pem("client certificate", &client.cert_pem, "CERTIFICATE")?;
            check_pem("client key", &client.key_pem, "PRIVATE KEY")?;
            if !https {
                return Err(invalid(
                    "repository URL",
                    url,
                    "must be https:// for a client certificate",
                ));
            }
        }
        if let Some(ca) = &self.ca_pem {
            check_pem("repository CA", ca, "CERTIFICATE")?;
        }
        Ok(())
    }
}

fn check_pem(setting: &'static str, pem: &str, label: &str) -> Result<()> {
    let first = pem.trim().lines().next().unwrap_or("");
    let ok = first.starts_with("-----BEGIN ")
        && first.ends_with(&format!("{label}-----"))
        && pem
            .trim()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("-----END "))
        && pem
            .chars()
            .all(|c| c == '\n' || c == '\r' || c.is_ascii_graphic() || c == ' ');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            setting,
            first,
            format!("must be PEM (-----BEGIN ...{label}-----)"),
        ))
    }
}

/// `host[:port]` and the path of an `https://host[:port]/path` URL.
fn host_and_path(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    match rest.split_once('/') {
        Some((host, path)) => (host, path),
        None => (rest, ""),
    }
}

/// The files and configuration of the apt variant.
pub(super) fn apt_files(out: &mut String, access: &Access, id: &str, url: &str) {
    let (host_port, path) = host_and_path(url);
    let host = host_port.split(':').next().unwrap_or(host_port);
    if let Some(basic) = &access.basic {
        let machine = match path {
            "" => host_port.to_string(),
            path => format!("{host_port}/{path}"),
        };
        let entry = format!(
            "machine {machine} login {} password {}\n",
            basic.username, basic.password
        );
        write_file(
            out,
            &format!("/etc/apt/auth.conf.d/{id}.conf"),
            &entry,
            Mode::Secret,
        );
    }
    let mut conf = String::new();
    if let Some(ca) = &access.ca_pem {
        let file = format!("/etc/apt/{id}/ca.crt");
        write_file(out, &file, ca, Mode::Public);
        let _ = writeln!(conf, "Acquire::https::{host}::CaInfo {};", quote(&file));
    }
    if let Some(client) = &access.client {
        let cert = format!("/etc/apt/{id}/client.crt");
        let key = format!("/etc/apt/{id}/client.key");
        write_file(out, &cert, &client.cert_pem, Mode::Public);
        // apt's https method opens it after dropping to the `_apt` user.
        write_file(out, &key, &client.key_pem, Mode::SecretOf("_apt"));
        let _ = writeln!(conf, "Acquire::https::{host}::SslCert {};", quote(&cert));
        let _ = writeln!(conf, "Acquire::https::{host}::SslKey {};", quote(&key));
    }
    if !conf.is_empty() {
        let file = format!("/etc/apt/apt.conf.d/60{id}-https");
        write_file(out, &file, &conf, Mode::Public);
    }
}

/// The files of the dnf variant, and the options its `.repo` entry gets.
pub(super) fn dnf_files(out: &mut String, access: &Access, id: &str) -> Vec<(String, String)> {
    let mut options = Vec::new();
    if let Some(basic) = &access.basic {
        // dnf variables are lower-case words; the .repo refers to the password by name.
        let var = format!("{}_password", id.replace('-', "_"));
        write_file(
            out,
            &format!("/etc/dnf/vars/{var}"),
            &basic.password,
            Mode::Secret,
        );
        options.push(("username".to_string(), basic.username.clone()));
        options.push(("password".to_string(), format!("${var}")));
    }
    if let Some(ca) = &access.ca_pem {
        let file = format!("/etc/pki/{id}/ca.crt");
        write_file(out, &file, ca, Mode::Public);
        options.push(("sslcacert".to_string(), file));
    }
    if let Some(client) = &access.client {
        let cert = format!("/etc/pki/{id}/client.crt");
        let key = format!("/etc/pki/{id}/client.key");
        write_file(out, &cert, &client.cert_pem, Mode::Public);
        write_file(out, &key, &client.key_pem, Mode::Secret);
        options.push(("sslclientcert".to_string(), cert));
        options.push(("sslclientkey".to_string(), key));
    }
    if access.is_private() || access.ca_pem.is_some() {
        options.push(("sslverify".to_string(), "true".to_string()));
    }
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_and_path() {
        assert_eq!(
            host_and_path("https://pkg.example:8443/nf/apt"),
            ("pkg.example:8443", "nf/apt")
        );
        assert_eq!(host_and_path("https://pkg.example"), ("pkg.example", ""));
    }

    #[test]
    fn secrets_and_pems_are_checked() {
        let basic = |password: &str| Access {
            basic: Some(BasicAuth {
                username: "node".into(),
                password: password.into(),
            }),
            ..Access::default()
        };
        assert!(basic("s3cret").check("https://h/apt").is_ok());
        assert!(
            basic("s3cret").check("http://h/apt").is_err(),
            "a password over http"
        );
        let err = basic("two words")
            .check("https://h/apt")
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("two words"),
            "the password is never shown: {err}"
        );
        assert!(basic("$var").check("https://h/apt").is_err());
        let ca = Access {
            ca_pem: Some("not a certificate".into()),
            ..Access::default()
        };
        assert!(ca.check("https://h/apt").is_err());
    }
}

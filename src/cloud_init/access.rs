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

use std::fmt::{self, Write};

use url::{Host, Url};

use super::{invalid, quote, write_file, Mode};
use crate::error::Result;
use crate::pem::{Certificates, PrivateKey};

/// How a node proves it may read the repository, and how it recognises the server.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// HTTP basic authentication.
    pub basic: Option<BasicAuth>,
    /// A TLS client certificate and its key.
    pub client: Option<ClientCertificate>,
    /// The CA(s) that signed the repository server's certificate, trusted for the
    /// repository's host only (never added to the system's trust store).
    pub ca_pem: Option<Certificates>,
}

/// Names each part (each shows its secrets as `(secret)`); a field added later is not
/// printed until it is listed here.
impl fmt::Debug for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Access")
            .field("basic", &self.basic)
            .field("client", &self.client)
            .field("ca_pem", &self.ca_pem)
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("username", &self.username)
            .field("password", &"(secret)")
            .finish()
    }
}

/// A client certificate (exactly one) and its key, both checked by [`crate::pem`].
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub cert_pem: Certificates,
    pub key_pem: PrivateKey,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"(secret)")
            .finish()
    }
}

/// What is wrong with a password, if anything: it goes into apt's auth.conf, which
/// separates tokens by blanks, and a dnf variable, which dnf would expand `$` in.
pub fn password_problem(password: &str) -> Option<&'static str> {
    let ok = !password.is_empty()
        && password.chars().all(|c| c.is_ascii_graphic())
        && !password.contains('$');
    (!ok).then_some(
        "must be one line of printable ASCII without blanks or '$' \
         (apt's auth.conf separates tokens by blanks, dnf expands '$')",
    )
}

impl Access {
    pub fn is_private(&self) -> bool {
        self.basic.is_some() || self.client.is_some()
    }

    /// Checks every part against `url` (a [`crate::weburl::repository_url`]) before
    /// anything is written.
    pub(super) fn check(&self, url: &str, rpm: bool) -> Result<()> {
        let parsed = Url::parse(url).map_err(|e| invalid("repository URL", url, e.to_string()))?;
        let https = parsed.scheme() == "https";
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
            if let Some(reason) = password_problem(&basic.password) {
                // Never echo the password itself.
                return Err(invalid(
                    "repository password",
                    "(from the password file)",
                    reason,
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
            if !https {
                return Err(invalid(
                    "repository URL",
                    url,
                    "must be https:// for a client certificate",
                ));
            }
            if !client
                .cert_pem
                .certs()
                .iter()
                .any(|c| client.key_pem.belongs_to(c))
            {
                return Err(invalid(
                    "client key",
                    "(from the key file)",
                    "does not belong to the client certificate",
                ));
            }
        }
        let per_host = self.client.is_some() || self.ca_pem.is_some();
        if !rpm && per_host && matches!(parsed.host(), Some(Host::Ipv6(_))) {
            return Err(invalid(
                "repository URL",
                url,
                "apt's per-host TLS settings (Acquire::https::HOST) cannot name an IPv6 \
                 address: serve the repository under a host name",
            ));
        }
        Ok(())
    }
}

/// `host[:port]` and the path (without its leading `/`) of a checked repository URL.
fn host_and_path(url: &str) -> (String, String) {
    match Url::parse(url) {
        Ok(url) => {
            let host = url.host_str().unwrap_or_default();
            let host_port = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            };
            (host_port, url.path().trim_matches('/').to_string())
        }
        Err(_) => (String::new(), String::new()),
    }
}

/// The files and configuration of the apt variant.
pub(super) fn apt_files(out: &mut String, access: &Access, id: &str, url: &str) {
    let (host_port, path) = host_and_path(url);
    let host = host_port.split(':').next().unwrap_or(&host_port);
    if let Some(basic) = &access.basic {
        let machine = match path.as_str() {
            "" => host_port.clone(),
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
        write_file(out, &file, ca.as_str(), Mode::Public);
        let _ = writeln!(conf, "Acquire::https::{host}::CaInfo {};", quote(&file));
    }
    if let Some(client) = &access.client {
        let cert = format!("/etc/apt/{id}/client.crt");
        let key = format!("/etc/apt/{id}/client.key");
        write_file(out, &cert, client.cert_pem.as_str(), Mode::Public);
        // apt's https method opens it after dropping to the `_apt` user.
        write_file(out, &key, client.key_pem.as_str(), Mode::SecretOf("_apt"));
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
        write_file(out, &file, ca.as_str(), Mode::Public);
        options.push(("sslcacert".to_string(), file));
    }
    if let Some(client) = &access.client {
        let cert = format!("/etc/pki/{id}/client.crt");
        let key = format!("/etc/pki/{id}/client.key");
        write_file(out, &cert, client.cert_pem.as_str(), Mode::Public);
        write_file(out, &key, client.key_pem.as_str(), Mode::Secret);
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
    use std::path::Path;

    use super::*;

    fn client() -> ClientCertificate {
        let made = rcgen::generate_simple_self_signed(vec!["node".to_string()]).unwrap();
        let path = Path::new("x.pem");
        ClientCertificate {
            cert_pem: Certificates::one("c", path, made.cert.pem().as_bytes()).unwrap(),
            key_pem: PrivateKey::parse("k", path, made.signing_key.serialize_pem().as_bytes())
                .unwrap(),
        }
    }

    #[test]
    fn urls_split_into_host_and_path() {
        let split = |url: &str| {
            let (host, path) = host_and_path(url);
            (host, path)
        };
        assert_eq!(
            split("https://pkg.example:8443/nf/apt"),
            ("pkg.example:8443".to_string(), "nf/apt".to_string())
        );
        assert_eq!(
            split("https://pkg.example/"),
            ("pkg.example".to_string(), String::new())
        );
    }

    #[test]
    fn secrets_are_checked() {
        let basic = |password: &str| Access {
            basic: Some(BasicAuth {
                username: "node".into(),
                password: password.into(),
            }),
            ..Access::default()
        };
        assert!(basic("s3cret").check("https://h/apt", false).is_ok());
        assert!(
            basic("s3cret").check("http://h/apt", false).is_err(),
            "a password over http"
        );
        let err = basic("two words")
            .check("https://h/apt", false)
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("two words"),
            "the password is never shown: {err}"
        );
        assert!(basic("$var").check("https://h/apt", false).is_err());

        let mine = client();
        let access = Access {
            client: Some(mine.clone()),
            ..Access::default()
        };
        assert!(access.check("https://h/apt", false).is_ok());
        assert!(access.check("https://[fd00::1]/apt", false).is_err());
        assert!(access.check("https://[fd00::1]/rpm", true).is_ok());
        let mixed = Access {
            client: Some(ClientCertificate {
                key_pem: client().key_pem,
                ..mine
            }),
            ..Access::default()
        };
        let e = mixed.check("https://h/apt", false).unwrap_err().to_string();
        assert!(
            e.contains("does not belong to the client certificate"),
            "{e}"
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let access = Access {
            basic: Some(BasicAuth {
                username: "node".into(),
                password: "hunter2-password".into(),
            }),
            client: Some(client()),
            ca_pem: None,
        };
        let key_line = access
            .client
            .as_ref()
            .unwrap()
            .key_pem
            .as_str()
            .lines()
            .nth(1)
            .unwrap()
            .to_string();
        for shown in [
            format!("{access:?}"),
            format!("{:?}", access.basic.as_ref().unwrap()),
            format!("{:?}", access.client.as_ref().unwrap()),
        ] {
            assert!(
                !shown.contains("hunter2") && !shown.contains(&key_line),
                "{shown}"
            );
            assert!(shown.contains("(secret)"), "{shown}");
        }
    }
}

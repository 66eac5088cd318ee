//! The OpenPGP signer against the real verifiers: gpgv (Debian 12's apt), sqv (Sequoia,
//! Debian 13's apt) and rpm. Keys current clients reject are made with real `gpg`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nimsforest_pkg::sign::{keygen, KeyAlgorithm, Sign, Signer};

use crate::harness::{scratch, tool, tool_ok};

/// Before any key made by a test, so the signer uses the key's creation time: fixed, and
/// never in the future for the verifiers.
const SIGNING_TIME: u64 = 1_000_000_000;

const RELEASE: &str = "Origin: nimsforest\nLabel: nimsforest\nSuite: stable\nCodename: stable\n\
Date: Sat, 01 Nov 2025 00:00:00 UTC\nArchitectures: amd64 arm64\nComponents: main\n\
SHA256:\n 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef 1234 main/binary-amd64/Packages\n\
- a line that starts with a dash\n";

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).expect("write");
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Splits a clear-signed file the way apt does before it calls sqv: the dash-unescaped text
/// without its last line break, and the signature block.
fn split_clearsigned(signed: &str) -> (String, String) {
    let body_start = signed.find("\n\n").expect("armor headers end") + 2;
    let sig_start = signed
        .find("-----BEGIN PGP SIGNATURE-----")
        .expect("signature block");
    let body = &signed[body_start..sig_start];
    let text: Vec<&str> = body
        .strip_suffix('\n')
        .unwrap_or(body)
        .split('\n')
        .map(|line| line.strip_prefix("- ").unwrap_or(line))
        .collect();
    (text.join("\n"), signed[sig_start..].to_string())
}

/// Every check of one signer's repository signatures with gpgv and sqv, and their refusal
/// of tampered data.
fn check_index_signatures(signer: &Signer) {
    let dir = scratch("nimsforest-sign-");
    let d = dir.path();
    let keyring = write(d, "nimsforest.gpg", signer.public_key_binary());
    let armored_keyring = write(d, "nimsforest.asc", signer.public_key_armored());
    let release = write(d, "Release", RELEASE);
    let release_gpg = write(
        d,
        "Release.gpg",
        signer.detached_armored(RELEASE.as_bytes()).unwrap(),
    );
    let inrelease_text = signer.clearsign(RELEASE).unwrap();
    let inrelease = write(d, "InRelease", &inrelease_text);

    let out = tool_ok(
        "gpgv",
        &["--keyring", s(&keyring), s(&release_gpg), s(&release)],
    );
    assert!(out.contains("Good signature"), "{out}");
    let out = tool_ok("gpgv", &["--keyring", s(&keyring), s(&inrelease)]);
    assert!(out.contains("Good signature"), "{out}");
    for ring in [&keyring, &armored_keyring] {
        // sqv prints the certificate's (primary) fingerprint.
        let out = tool_ok("sqv", &["--keyring", s(ring), s(&release_gpg), s(&release)]);
        assert_eq!(out.trim(), signer.fingerprint());
    }
    // gpgv's own split of InRelease agrees with the text that was signed.
    let plain = d.join("InRelease.txt");
    tool_ok(
        "gpgv",
        &[
            "--keyring",
            s(&keyring),
            "--output",
            s(&plain),
            s(&inrelease),
        ],
    );
    let (text, sig) = split_clearsigned(&inrelease_text);
    assert_eq!(std::fs::read_to_string(&plain).unwrap(), RELEASE);
    let text_file = write(d, "InRelease.text", &text);
    let sig_file = write(d, "InRelease.sig", &sig);
    tool_ok(
        "sqv",
        &["--keyring", s(&keyring), s(&sig_file), s(&text_file)],
    );

    // Tampering: one changed byte fails both verifiers.
    let tampered = write(d, "Release.bad", RELEASE.replace("1234", "1235"));
    let (ok, out) = tool(
        "gpgv",
        &["--keyring", s(&keyring), s(&release_gpg), s(&tampered)],
    );
    assert!(!ok && out.contains("BAD signature"), "{out}");
    let (ok, out) = tool(
        "sqv",
        &["--keyring", s(&keyring), s(&release_gpg), s(&tampered)],
    );
    assert!(!ok, "sqv accepted tampered data: {out}");
    let bad_inrelease = write(d, "InRelease.bad", inrelease_text.replace("1234", "1235"));
    let (ok, out) = tool("gpgv", &["--keyring", s(&keyring), s(&bad_inrelease)]);
    assert!(!ok && out.contains("BAD signature"), "{out}");
    let (text, _) = split_clearsigned(&inrelease_text.replace("1234", "1235"));
    let bad_text = write(d, "InRelease.bad.text", text);
    let (ok, out) = tool(
        "sqv",
        &["--keyring", s(&keyring), s(&sig_file), s(&bad_text)],
    );
    assert!(!ok, "sqv accepted tampered InRelease: {out}");

    // Another key's keyring: both refuse.
    let other = Signer::from_armored(
        &keygen("Other <other@example.org>", KeyAlgorithm::Ed25519, None)
            .unwrap()
            .secret_armored,
        None,
        "other",
    )
    .unwrap();
    let other_ring = write(d, "other.gpg", other.public_key_binary());
    let (ok, out) = tool(
        "gpgv",
        &["--keyring", s(&other_ring), s(&release_gpg), s(&release)],
    );
    assert!(!ok, "{out}");
    let (ok, out) = tool(
        "sqv",
        &["--keyring", s(&other_ring), s(&release_gpg), s(&release)],
    );
    assert!(!ok, "{out}");
}

#[test]
fn ed25519_key_signs_indexes_that_gpgv_and_sqv_accept() {
    let key = keygen(
        "Nimsforest Test <test@example.org>",
        KeyAlgorithm::Ed25519,
        None,
    )
    .unwrap();
    assert!(key
        .secret_armored
        .starts_with("-----BEGIN PGP PRIVATE KEY BLOCK-----"));
    assert!(key
        .public_armored
        .starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
    let signer = Signer::from_armored(&key.secret_armored, None, "test key")
        .unwrap()
        .with_signing_time(SIGNING_TIME);
    assert_eq!(signer.fingerprint(), key.fingerprint);
    assert_eq!(key.fingerprint.len(), 40);
    assert_eq!(signer.public_key_armored(), key.public_armored);
    check_index_signatures(&signer);

    // gpg sees what it should: a v4 signature by a legacy EdDSA (22) key, with SHA-512 (10).
    let gpg = Gpg::new();
    let sig = write(
        gpg.home.path(),
        "sig.asc",
        signer.detached_armored(b"data").unwrap(),
    );
    let out = gpg.run(&["--list-packets", s(&sig)]);
    assert!(
        out.contains("signature packet: algo 22") && out.contains("digest algo 10"),
        "{out}"
    );
    assert!(out.contains("version 4"), "{out}");
}

#[test]
fn passphrase_protected_rsa4096_key_signs_indexes_that_gpgv_and_sqv_accept() {
    let key = keygen(
        "Nimsforest RSA <rsa@example.org>",
        KeyAlgorithm::Rsa4096,
        Some("correct horse"),
    )
    .unwrap();
    let signer = Signer::from_armored(&key.secret_armored, Some("correct horse"), "rsa key")
        .unwrap()
        .with_signing_time(SIGNING_TIME);
    check_index_signatures(&signer);
    let out = check_rpm_signature(&signer);
    assert!(out.contains("RSA/SHA512 Signature"), "{out}");

    let err = Signer::from_armored(&key.secret_armored, Some("wrong"), "rsa.asc").unwrap_err();
    assert_eq!(
        err.to_string(),
        "signing key rsa.asc: wrong passphrase (from NIMSFOREST_SIGNING_KEY_PASSPHRASE, if set)"
    );
    let err =
        Signer::from_armored(&key.secret_armored, None, "NIMSFOREST_SIGNING_KEY").unwrap_err();
    assert_eq!(
        err.to_string(),
        "signing key NIMSFOREST_SIGNING_KEY: is passphrase-protected: set NIMSFOREST_SIGNING_KEY_PASSPHRASE"
    );
}

/// A tiny RPM, built in-process.
fn tiny_rpm() -> rpm::Package {
    let mut builder = rpm::PackageBuilder::new(
        "nimsforest-sign-test",
        "1.0.0",
        "Apache-2.0",
        "noarch",
        "signing test package",
    );
    builder
        .using_config(rpm::BuildConfig::default().source_date(1_700_000_000))
        .with_file_contents(
            "hello\n",
            rpm::FileOptions::new("/usr/share/nimsforest-sign-test/hello"),
        )
        .unwrap();
    builder.build().unwrap()
}

/// Signs a tiny RPM and checks it with `rpm -K` in a scratch database that trusts only
/// the signer's key; a tampered copy must fail.
fn check_rpm_signature(signer: &Signer) -> String {
    let dir = scratch("nimsforest-sign-");
    let d = dir.path();
    let db = d.join("rpmdb");
    std::fs::create_dir(&db).unwrap();
    let key = write(d, "RPM-GPG-KEY-nimsforest", signer.public_key_armored());
    tool_ok("rpmkeys", &["--dbpath", s(&db), "--import", s(&key)]);

    let mut package = tiny_rpm();
    signer.sign_rpm(&mut package).unwrap();
    let rpm_path = d.join("test.rpm");
    package.write_file(&rpm_path).unwrap();
    let out = tool_ok("rpm", &["--dbpath", s(&db), "-K", s(&rpm_path)]);
    assert!(out.contains("digests signatures OK"), "{out}");
    let verbose = tool_ok("rpm", &["--dbpath", s(&db), "-Kv", s(&rpm_path)]);
    assert!(!verbose.contains("BAD"), "{verbose}");

    // Payload tampering: the last byte of the file.
    let mut bytes = std::fs::read(&rpm_path).unwrap();
    *bytes.last_mut().unwrap() ^= 0x55;
    let bad = write(d, "tampered.rpm", &bytes);
    let (ok, out) = tool("rpm", &["--dbpath", s(&db), "-K", s(&bad)]);
    assert!(!ok && out.contains("NOT OK"), "{out}");

    // Header tampering: the package summary, which the header signature covers.
    let bytes = std::fs::read(&rpm_path).unwrap();
    let at = find(&bytes, b"signing test package").expect("summary in header");
    let mut bytes = bytes;
    bytes[at] = b'S';
    let bad = write(d, "tampered-header.rpm", &bytes);
    let (ok, out) = tool("rpm", &["--dbpath", s(&db), "-K", s(&bad)]);
    assert!(!ok && out.contains("NOT OK"), "{out}");

    // Without the key imported, the signature is not trusted.
    let empty_db = d.join("emptydb");
    std::fs::create_dir(&empty_db).unwrap();
    let (ok, out) = tool("rpm", &["--dbpath", s(&empty_db), "-Kv", s(&rpm_path)]);
    assert!(!ok && out.contains("NOKEY"), "{out}");
    verbose
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn signed_rpm_passes_rpm_k() {
    let key = keygen(
        "Nimsforest RPM <rpm@example.org>",
        KeyAlgorithm::Ed25519,
        None,
    )
    .unwrap();
    let signer = Signer::from_armored(&key.secret_armored, None, "test key")
        .unwrap()
        .with_signing_time(SIGNING_TIME);
    let out = check_rpm_signature(&signer);
    assert!(out.contains("EdDSA/SHA512 Signature"), "{out}");

    // Same package, key and time: the same signed bytes.
    let mut a = tiny_rpm();
    let mut b = tiny_rpm();
    signer.sign_rpm(&mut a).unwrap();
    signer.sign_rpm(&mut b).unwrap();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    a.write(&mut x).unwrap();
    b.write(&mut y).unwrap();
    assert!(
        x == y,
        "signing the same package twice gave different bytes"
    );
}

/// A scratch GnuPG home; its agent is stopped on drop.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new() -> Self {
        let home = tempfile::Builder::new()
            .prefix("gpg-")
            // The temp dir, not target/: the agent's socket path length is limited.
            .tempdir_in(std::env::temp_dir())
            .expect("tempdir");
        Self { home }
    }

    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.home.path())
            .args(["--batch", "--pinentry-mode", "loopback"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("gpg runs");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    /// Generates a key with `extra` options before `--quick-gen-key` and returns its
    /// armored secret key.
    fn key(&self, extra: &[&str], uid: &str, algo: &str, usage: &str) -> String {
        let mut args = vec!["--passphrase", ""];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--quick-gen-key", uid, algo, usage, "never"]);
        self.run(&args);
        self.export(uid)
    }

    fn export(&self, uid: &str) -> String {
        self.run(&["--passphrase", "", "--armor", "--export-secret-keys", uid])
    }

    fn fingerprint(&self, uid: &str) -> String {
        let listing = self.run(&["--with-colons", "--list-keys", uid]);
        listing
            .lines()
            .find(|l| l.starts_with("fpr:"))
            .and_then(|l| l.split(':').nth(9))
            .expect("fingerprint")
            .to_string()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

fn refusal(text: &str, passphrase: Option<&str>) -> String {
    Signer::from_armored(text, passphrase, "test.asc")
        .expect_err("the key must be refused")
        .to_string()
}

#[test]
fn keys_current_clients_reject_are_refused() {
    let gpg = Gpg::new();
    let rsa2048 = gpg.key(&[], "RSA2048 <rsa2048@example.org>", "rsa2048", "sign");
    assert_eq!(
        refusal(&rsa2048, None),
        "signing key test.asc: RSA-2048 is refused: current clients need RSA >= 3072 bits or Ed25519"
    );
    let dsa = gpg.key(&[], "DSA <dsa@example.org>", "dsa2048", "sign");
    assert_eq!(
        refusal(&dsa, None),
        "signing key test.asc: DSA is refused: current clients need RSA >= 3072 bits or Ed25519"
    );
    let sha1 = gpg.key(
        &["--cert-digest-algo", "SHA1"],
        "SHA1 <sha1@example.org>",
        "ed25519",
        "sign",
    );
    assert_eq!(
        refusal(&sha1, None),
        "signing key test.asc: the self-signature on user ID \"SHA1 <sha1@example.org>\" uses SHA1, \
         which current clients (apt with sqv, RHEL 9 rpm) reject; re-sign the key with SHA-256 or \
         SHA-512 or make a new one with `nimsforest-pkg keygen`"
    );
    // A good primary key whose signing subkey is bound with SHA-1.
    gpg.key(&[], "Subkey SHA1 <subsha1@example.org>", "ed25519", "cert");
    let fpr = gpg.fingerprint("subsha1@example.org");
    gpg.run(&[
        "--passphrase",
        "",
        "--cert-digest-algo",
        "SHA1",
        "--allow-weak-digest-algos",
        "--allow-weak-key-signatures",
        "--quick-add-key",
        &fpr,
        "ed25519",
        "sign",
        "never",
    ]);
    let text = gpg.export("subsha1@example.org");
    let err = refusal(&text, None);
    assert!(
        err.starts_with("signing key test.asc: the binding of subkey ")
            && err.contains("uses SHA1"),
        "{err}"
    );
    // A DSA signing subkey under a good primary key.
    gpg.key(&[], "Subkey DSA <subdsa@example.org>", "ed25519", "cert");
    let fpr = gpg.fingerprint("subdsa@example.org");
    gpg.run(&[
        "--passphrase",
        "",
        "--quick-add-key",
        &fpr,
        "dsa3072",
        "sign",
        "never",
    ]);
    let err = refusal(&gpg.export("subdsa@example.org"), None);
    assert!(
        err.starts_with("signing key test.asc: signing subkey ")
            && err.ends_with(": DSA is refused: current clients need RSA >= 3072 bits or Ed25519"),
        "{err}"
    );
    // Certify-only primary, no signing subkey.
    let cert_only = gpg.key(&[], "Cert only <cert@example.org>", "ed25519", "cert");
    assert_eq!(
        refusal(&cert_only, None),
        "signing key test.asc: has no signing-capable key (neither the primary key nor a valid \
         subkey carries the sign flag)"
    );
}

#[test]
fn expired_and_revoked_keys_are_refused() {
    let gpg = Gpg::new();
    gpg.run(&[
        "--passphrase",
        "",
        "--faked-system-time",
        "20200101T000000",
        "--quick-gen-key",
        "Expired <expired@example.org>",
        "ed25519",
        "sign",
        "2020-06-01",
    ]);
    let err = refusal(&gpg.export("expired@example.org"), None);
    assert!(
        err.starts_with("signing key test.asc: the key expired on ") && err.contains("2020"),
        "{err}"
    );

    gpg.key(&[], "Revoked <revoked@example.org>", "ed25519", "sign");
    let fpr = gpg.fingerprint("revoked@example.org");
    let rev = std::fs::read_to_string(gpg.home.path().join(format!("openpgp-revocs.d/{fpr}.rev")))
        .unwrap();
    // gpg stores the certificate with its armor lines escaped by a leading colon.
    let rev = rev.replace(":-----BEGIN", "-----BEGIN");
    let rev_file = write(gpg.home.path(), "revoke.asc", rev);
    gpg.run(&["--import", s(&rev_file)]);
    assert_eq!(
        refusal(&gpg.export("revoked@example.org"), None),
        "signing key test.asc: is revoked"
    );
}

#[test]
fn gpg_made_keys_with_signing_subkeys_and_passphrases_work_everywhere() {
    // The layout `gpg --full-gen-key` users often have: a certify-only primary key kept
    // offline in spirit, a signing subkey, an encryption subkey, and a passphrase.
    let gpg = Gpg::new();
    gpg.run(&[
        "--passphrase",
        "s3cret",
        "--quick-gen-key",
        "Forest <forest@example.org>",
        "ed25519",
        "cert",
        "never",
    ]);
    let fpr = gpg.fingerprint("forest@example.org");
    for (algo, usage) in [("cv25519", "encr"), ("ed25519", "sign")] {
        gpg.run(&[
            "--passphrase",
            "s3cret",
            "--quick-add-key",
            &fpr,
            algo,
            usage,
            "never",
        ]);
    }
    let text = gpg.run(&[
        "--passphrase",
        "s3cret",
        "--armor",
        "--export-secret-keys",
        &fpr,
    ]);
    let signer = Signer::from_armored(&text, Some("s3cret"), "forest.asc")
        .unwrap()
        .with_signing_time(SIGNING_TIME);
    assert_eq!(signer.fingerprint(), fpr);
    // gpg names the key that made a signature first in VALIDSIG, the primary key last.
    let dir = scratch("nimsforest-sign-");
    let data = write(dir.path(), "data", RELEASE);
    let sig = write(
        dir.path(),
        "data.asc",
        signer.detached_armored(RELEASE.as_bytes()).unwrap(),
    );
    let status = gpg.run(&["--status-fd", "1", "--verify", s(&sig), s(&data)]);
    let validsig: Vec<&str> = status
        .lines()
        .find_map(|l| l.strip_prefix("[GNUPG:] VALIDSIG "))
        .expect("VALIDSIG")
        .split(' ')
        .collect();
    assert_eq!(validsig.last(), Some(&fpr.as_str()));
    assert_ne!(validsig[0], fpr, "the subkey signs");
    check_index_signatures(&signer);
    check_rpm_signature(&signer);
    assert_eq!(
        refusal(&text, Some("nope")).as_str(),
        "signing key test.asc: wrong passphrase (from NIMSFOREST_SIGNING_KEY_PASSPHRASE, if set)"
    );

    // A binary (unarmored) export loads from a file too.
    let binary = Command::new("gpg")
        .env("GNUPGHOME", gpg.home.path())
        .args([
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "s3cret",
        ])
        .args(["--export-secret-keys", &fpr])
        .output()
        .unwrap()
        .stdout;
    let file = write(gpg.home.path(), "key.gpg", binary);
    let err = Signer::load(Some(&file))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("key.gpg: is passphrase-protected: set NIMSFOREST_SIGNING_KEY_PASSPHRASE"),
        "{err}"
    );
}

#[test]
fn unusable_key_text_is_refused_with_a_clear_message() {
    assert_eq!(
        refusal("hello", None),
        "signing key test.asc: is not an armored OpenPGP secret key (expected -----BEGIN PGP \
         PRIVATE KEY BLOCK-----)"
    );
    let garbage = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nbm90IGEga2V5\n-----END PGP PRIVATE KEY BLOCK-----\n";
    let err = refusal(garbage, None);
    assert!(
        err.starts_with("signing key test.asc: cannot be read as an OpenPGP secret key: "),
        "{err}"
    );
    let key = keygen("Public <pub@example.org>", KeyAlgorithm::Ed25519, None).unwrap();
    assert_eq!(
        refusal(&key.public_armored, None),
        "signing key test.asc: is a public key; signing needs the secret key (`gpg --armor \
         --export-secret-keys`)"
    );
    let dir = scratch("nimsforest-sign-");
    let missing = dir.path().join("missing.asc");
    let err = Signer::load(Some(&missing)).map(|_| ()).unwrap_err();
    assert!(err.to_string().contains("missing.asc"), "{err}");

    // Two keys in one file: ambiguous.
    let other = keygen("Other <other@example.org>", KeyAlgorithm::Ed25519, None).unwrap();
    let both = write(
        dir.path(),
        "both.asc",
        format!("{}{}", key.secret_armored, other.secret_armored),
    );
    let err = Signer::load(Some(&both))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("holds 2 secret keys; give exactly one"),
        "{err}"
    );
}

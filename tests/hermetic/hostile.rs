//! The holes a hostile-input probe found, each shown closed through the real binary:
//! PEM files that smuggled YAML into the user-data, credentials in URLs, secrets in
//! errors, directories made after the umask. (tests/hermetic/probe.rs runs the whole
//! table of bad inputs.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;
use crate::probe::{base64_of, NotFoundServer};

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

fn public_key(dir: &Path) -> std::path::PathBuf {
    let key = nimsforest_pkg::sign::keygen(
        "Hostile <h@example.org>",
        nimsforest_pkg::sign::KeyAlgorithm::Ed25519,
        None,
    )
    .unwrap();
    write(dir, "repo.asc", key.public_armored)
}

/// A value of the YAML document, read by PyYAML (which cloud-init itself uses).
fn yaml_query(file: &Path, expression: &str) -> String {
    let script = format!(
        "import sys, yaml\nd = yaml.safe_load(open(sys.argv[1]))\nsys.stdout.write(str({expression}))"
    );
    tool_ok("python3", &["-c", &script, s(file)])
}

/// A PEM whose END line goes on, after a lone CR, with `runcmd:` and `write_files:`:
/// pasted into the user-data, YAML reads each CR as a line break, so `runcmd` becomes a
/// top-level key and the files that follow still parse; `cloud-init schema` accepts it.
#[test]
fn a_pem_cannot_smuggle_yaml_into_the_user_data() {
    let project = Project::new();
    let dir = tempfile::tempdir().unwrap();
    let key = public_key(dir.path());
    let cert = rcgen::generate_simple_self_signed(vec!["repo".to_string()])
        .unwrap()
        .cert
        .pem();
    let hostile = cert.replace(
        "-----END CERTIFICATE-----",
        "-----END CERTIFICATE-----\rruncmd: [[touch, /pwned]]\rwrite_files:",
    );

    // The document the old code wrote (the PEM pasted line by line): the hole was real.
    let pasted: String = hostile.lines().map(|l| format!("      {l}\n")).collect();
    let doc = write(
        dir.path(),
        "pasted.yaml",
        format!(
            "#cloud-config\nwrite_files:\n  - path: /etc/x/ca.crt\n    content: |\n{pasted}\
             \x20 - path: /etc/x/other\n    content: |\n      x\n"
        ),
    );
    let (valid, out) = tool("cloud-init", &["schema", "--config-file", s(&doc)]);
    assert!(valid, "{out}");
    assert_eq!(yaml_query(&doc, "d['runcmd']"), "[['touch', '/pwned']]");

    let ca = write(dir.path(), "ca.crt", &hostile);
    let args = [
        "cloud-init",
        "--url",
        "https://pkg.example/nf",
        "--key",
        s(&key),
        "--ca-cert",
        s(&ca),
    ];
    let out = project.run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(
        stderr.starts_with(&format!(
            "error: repository CA {}: has a carriage return inside line",
            s(&ca)
        )),
        "{stderr}"
    );

    // The same certificate with CRLF line endings and 76 columns is read, and written
    // out as LF and 64 columns: the bytes, not the text.
    let base64: String = cert.lines().filter(|l| !l.starts_with("-----")).collect();
    let wide: String = base64
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    let crlf = format!("-----BEGIN CERTIFICATE-----\r\n{wide}-----END CERTIFICATE-----\r\n");
    write(dir.path(), "ca.crt", &crlf);
    let text = project.ok(&args);
    let file = write(dir.path(), "user-data.yaml", &text);
    let out = tool_ok("cloud-init", &["schema", "--config-file", s(&file)]);
    assert!(out.contains("Valid cloud-config"), "{out}");
    let written = yaml_query(
        &file,
        "[f['content'] for f in d['write_files'] if f['path'] == '/etc/apt/nimsforest/ca.crt'][0]",
    );
    assert_eq!(written, cert, "re-encoded from its bytes");
    assert_eq!(
        yaml_query(&file, "sorted(d)"),
        "['apt', 'runcmd', 'write_files']"
    );
    assert!(!text.contains('\r'));
}

/// Keys in the three formats nats-server, apt and dnf read (PKCS#8, SEC1, PKCS#1), made
/// by openssl, and a CA bundle of two, are accepted; each written out as it was given.
#[test]
fn keys_in_every_common_format_and_ca_bundles_are_accepted() {
    let project = Project::new();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key = public_key(d);
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        "ec.key",
    ]);
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-out",
        "p384.key",
    ]);
    for (label, key_file) in [
        ("RSA PRIVATE KEY", "rsa.key"),
        ("EC PRIVATE KEY", "ec.key"),
        ("PRIVATE KEY", "p384.key"),
    ] {
        let given = std::fs::read_to_string(d.join(key_file)).unwrap();
        assert!(
            given.starts_with(&format!("-----BEGIN {label}-----")),
            "{given}"
        );
        let cert = format!("{key_file}.crt");
        run(&[
            "req", "-x509", "-key", key_file, "-out", &cert, "-days", "1", "-subj", "/CN=node",
        ]);
        run(&[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca2.key", "-out",
            "ca2.crt", "-days", "1", "-subj", "/CN=ca2",
        ]);
        let bundle = format!(
            "{}\n{}",
            std::fs::read_to_string(d.join(&cert)).unwrap(),
            std::fs::read_to_string(d.join("ca2.crt")).unwrap()
        );
        let ca = write(d, "bundle.crt", bundle);
        let text = project.ok(&[
            "cloud-init",
            "--url",
            "https://pkg.example/nf",
            "--key",
            s(&key),
            "--client-cert",
            s(&d.join(&cert)),
            "--client-key",
            s(&d.join(key_file)),
            "--ca-cert",
            s(&ca),
            "--rpm",
        ]);
        let file = write(d, "user-data.yaml", &text);
        let written = yaml_query(
            &file,
            "[f['content'] for f in d['write_files'] if f['path'] == '/etc/pki/nimsforest/client.key'][0]",
        );
        assert_eq!(written, given, "{label}");
        let bundle = yaml_query(
            &file,
            "[f['content'] for f in d['write_files'] if f['path'] == '/etc/pki/nimsforest/ca.crt'][0]",
        );
        assert_eq!(bundle.matches("-----BEGIN CERTIFICATE-----").count(), 2);
    }
}

/// A mirror's password is sent (basic authentication) and never printed; a repository
/// URL with one is refused without showing it.
#[test]
fn credentials_in_urls_are_used_or_refused_and_never_printed() {
    let project = Project::new();
    let server = NotFoundServer::start();
    let password = "hunter2-mirror-password";
    let mirror = server
        .url
        .replace("http://", &format!("http://fleet:{password}@"));
    for args in [
        vec!["build", "--arch", "amd64", "--mirror", mirror.as_str()],
        vec!["pin", "2.15.1", "--mirror", mirror.as_str()],
    ] {
        let (stderr, code) = project.fails(&args);
        assert_eq!(code, 4, "{stderr}");
        assert!(
            stderr.contains("GET http://fleet:***@127.0.0.1:"),
            "{stderr}"
        );
        assert!(!stderr.contains(password), "{stderr}");
    }
    let basic = format!(
        "Basic {}",
        base64_of(format!("fleet:{password}").as_bytes())
    );
    assert_eq!(
        *server.authorizations.lock().unwrap(),
        [basic.clone(), basic]
    );

    // From the environment too, and `--help` does not show its value.
    let out = project
        .command(&["build", "--help"])
        .env("NIMSFOREST_MIRROR", &mirror)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("NIMSFOREST_MIRROR") && !help.contains(password),
        "{help}"
    );

    let dir = tempfile::tempdir().unwrap();
    let key = public_key(dir.path());
    let (stderr, code) = project.fails(&[
        "cloud-init",
        "--url",
        &format!("https://fleet:{password}@pkg.example/nf"),
        "--key",
        s(&key),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("\"https://fleet:***@pkg.example/nf\"")
            && stderr.contains("--username and --password-file")
            && !stderr.contains(password),
        "{stderr}"
    );
}

/// The binary under umask 000, as `sh -c 'umask 000; exec ...'` runs it.
fn under_umask_000(project: &Project, args: &[&str]) -> Output {
    let out = Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_nimsforest-pkg"))
        .args(args)
        .current_dir(project.path())
        .env("NIMSFOREST_CACHE_DIR", &project.cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Directories that hold secrets are 0700 and files have their own modes, whatever the
/// umask; an existing directory is left as it is, unless anyone may write to it.
#[test]
fn secret_directories_ignore_the_umask() {
    let project = Project::new();
    let root = project.path();
    under_umask_000(&project, &["keygen", "--out", "keys/new"]);
    assert_eq!(
        (mode(&root.join("keys")), mode(&root.join("keys/new"))),
        (0o700, 0o700)
    );
    assert_eq!(
        mode(&root.join("keys/new/nimsforest-signing-key.asc")),
        0o600
    );
    assert_eq!(mode(&root.join("keys/new/nimsforest.asc")), 0o644);

    under_umask_000(
        &project,
        &["forest", "init", "--dir", "forest", "--forest-id", "f"],
    );
    under_umask_000(
        &project,
        &[
            "forest",
            "node",
            "--dir",
            "forest",
            "--name",
            "n1",
            "--address",
            "10.0.0.1",
        ],
    );
    under_umask_000(
        &project,
        &["forest", "user", "--dir", "forest", "--name", "ops"],
    );
    let f = root.join("forest");
    for dir in ["", "nodes", "nodes/n1", "users", "users/app", "users/ops"] {
        assert_eq!(mode(&f.join(dir)), 0o700, "forest/{dir}");
    }
    for key in [
        "ca-key.pem",
        "nodes/n1/node-key.pem",
        "users/ops/user-key.pem",
    ] {
        assert_eq!(mode(&f.join(key)), 0o600, "{key}");
    }
    for public in ["ca.pem", "forest.toml", "nodes/n1/node.pem"] {
        assert_eq!(mode(&f.join(public)), 0o644, "{public}");
    }

    // An existing directory keeps its mode; an empty one for a forest becomes 0700.
    std::fs::create_dir(root.join("mine")).unwrap();
    std::fs::set_permissions(root.join("mine"), std::fs::Permissions::from_mode(0o750)).unwrap();
    under_umask_000(&project, &["keygen", "--out", "mine"]);
    assert_eq!(mode(&root.join("mine")), 0o750);
    std::fs::create_dir(root.join("empty")).unwrap();
    under_umask_000(
        &project,
        &["forest", "init", "--dir", "empty", "--forest-id", "e"],
    );
    assert_eq!(mode(&root.join("empty")), 0o700);
}

//! The probe's inputs: the files it plants (hostile PEMs and keys, damaged forests,
//! unusable directories) and its table of cases, one a line.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;

use super::Case;
use crate::harness::*;

/// Secrets planted in the inputs.
pub(crate) const PASSWORD: &str = "probe-password-Zq7";
const TOKEN: &str = "probe-token-Wx4";
const SECRET_LINE: &str = "probe-secret-first-line-Kv2";

/// A certificate and its key, made by rcgen.
fn certified(name: &str) -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
    (made.cert.pem(), made.signing_key.serialize_pem())
}

/// The base64 lines of a PEM or armored block long enough to be secret.
fn body_lines(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.len() > 40 && !l.starts_with("-----") && !l.contains(':'))
        .map(str::to_string)
        .collect()
}

/// The inputs, in `in/` and beside it; returns the secrets they hold.
pub(super) fn fixtures(project: &Project) -> Vec<String> {
    let root = project.path();
    let put = |name: &str, data: &[u8]| {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    let mut secrets = vec![
        PASSWORD.to_string(),
        TOKEN.to_string(),
        SECRET_LINE.to_string(),
    ];

    let signing = nimsforest_pkg::sign::keygen(
        "Probe <probe@example.org>",
        nimsforest_pkg::sign::KeyAlgorithm::Ed25519,
        None,
    )
    .unwrap();
    put("in/repo.asc", signing.public_armored.as_bytes());
    put("in/secret-key.asc", signing.secret_armored.as_bytes());
    secrets.extend(
        body_lines(&signing.secret_armored)
            .into_iter()
            .filter(|l| !signing.public_armored.contains(l.as_str())),
    );
    let public: Vec<&str> = signing.public_armored.lines().collect();
    let injected_key = format!(
        "{}\n\rruncmd: [[touch, /pwned]]\n{}\n",
        public[..2].join("\n"),
        public[2..].join("\n")
    );
    put("in/key-cr.asc", injected_key.as_bytes());
    put(
        "in/two-keys.asc",
        format!("{0}{0}", signing.public_armored).as_bytes(),
    );

    let (cert, key) = certified("node-1");
    let (other_cert, other_key) = certified("node-2");
    secrets.extend(body_lines(&key));
    secrets.extend(body_lines(&other_key));
    put("in/cert.pem", cert.as_bytes());
    put("in/key.pem", key.as_bytes());
    put("in/other-key.pem", other_key.as_bytes());
    put("in/bundle.pem", format!("{cert}{other_cert}").as_bytes());
    let lines: Vec<&str> = cert.lines().collect();
    let with_line = |at: usize, inserted: &str| {
        let mut l = lines.clone();
        l.insert(at, inserted);
        format!("{}\n", l.join("\n"))
    };
    put(
        "in/cr-inject.pem",
        format!(
            "{}\n{}\rruncmd: [[touch, /pwned]]\n{}\n",
            lines[0],
            lines[1],
            lines[2..].join("\n")
        )
        .as_bytes(),
    );
    put(
        "in/trailing.pem",
        format!("{cert}runcmd: [[touch, /pwned]]\n").as_bytes(),
    );
    put(
        "in/leading.pem",
        format!("#cloud-config\n{cert}").as_bytes(),
    );
    put("in/nul.pem", with_line(2, "AAAA\0AAAA").as_bytes());
    put("in/esc.pem", with_line(2, "\x1b[2J").as_bytes());
    put(
        "in/ls.pem",
        with_line(2, "AAAA\u{2028}runcmd: x").as_bytes(),
    );
    put("in/empty.pem", b"");
    put("in/garbage.bin", &[0xff, 0xfe, 0x00, 0x80, 0x1b, b'\n']);
    put(
        "in/not-pem-key",
        format!("{SECRET_LINE}\n{}\n", body_lines(&key).join("\n")).as_bytes(),
    );
    put(
        "in/encrypted-key.pem",
        key.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY")
            .as_bytes(),
    );
    put("in/two-keys.pem", format!("{key}{other_key}").as_bytes());
    put(
        "in/ec-params-key.pem",
        format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{key}"
        )
        .as_bytes(),
    );
    put(
        "in/fake-cert.pem",
        b"-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n",
    );

    put("in/password", format!("{PASSWORD}\n").as_bytes());
    put(
        "in/password-two-lines",
        format!("{PASSWORD}\nsecond\n").as_bytes(),
    );
    put("in/password-blank", b"probe password\n");
    put("in/password-dollar", b"probe$password\n");
    put("in/password-empty", b"\n");
    put("in/password-cr", format!("{PASSWORD}\rruncmd\n").as_bytes());
    put("in/not-utf8", b"probe\xffpassword\n");
    put("in/garbage.toml", b"this is [not toml\n");
    put("in/nonempty/notes.txt", b"mine");
    std::fs::create_dir_all(root.join("in/dir")).unwrap();
    std::fs::File::create(root.join("in/huge"))
        .unwrap()
        .set_len(5 << 20)
        .unwrap();
    let fifo = tool_ok(
        "sh",
        &[
            "-c",
            &format!("mkfifo {}/in/fifo && echo ok", root.display()),
        ],
    );
    assert!(fifo.contains("ok"));
    std::os::unix::fs::symlink("nowhere", root.join("in/dangling")).unwrap();

    // Forests: a good one, and copies damaged as a hand edit or an attacker would.
    project.ok(&[
        "forest",
        "init",
        "--dir",
        "forest",
        "--forest-id",
        "probe",
        "--ca-days",
        "30",
        "--days",
        "30",
    ]);
    for node in ["n1", "n2"] {
        project.ok(&[
            "forest",
            "node",
            "--dir",
            "forest",
            "--name",
            node,
            "--address",
            "10.0.0.1",
            "--days",
            "20",
        ]);
    }
    for name in [
        "forest-badname",
        "forest-badid",
        "forest-cr",
        "forest-mismatch",
        "forest-secret",
        "forest-world",
        "forest-badca",
    ] {
        copy_dir(&root.join("forest"), &root.join(name));
    }
    let edit = |file: &str, change: &dyn Fn(String) -> String| {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, change(text)).unwrap();
    };
    edit("forest-badname/forest.toml", &|t| {
        t.replace("[users.app]", "[users.\"../../evil\"]")
    });
    edit("forest-badid/forest.toml", &|t| {
        t.replace("forest-id = \"probe\"", "forest-id = \"probe forest\"")
    });
    edit("forest-cr/nodes/n1/node.pem", &|t| {
        t.replacen('\n', "\n\rruncmd: [[touch, /pwned]]", 2)
    });
    let n2_key = std::fs::read_to_string(root.join("forest/nodes/n2/node-key.pem")).unwrap();
    edit("forest-mismatch/nodes/n1/node-key.pem", &|_| n2_key.clone());
    edit("forest-secret/nodes/n1/node-key.pem", &|t| {
        format!("{SECRET_LINE}\n{t}")
    });
    let user_key = std::fs::read_to_string(root.join("forest/users/app/user-key.pem")).unwrap();
    edit("forest-badca/ca-key.pem", &|_| user_key.clone());
    std::fs::set_permissions(
        root.join("forest-world"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    for file in [
        "ca-key.pem",
        "nodes/n1/node-key.pem",
        "nodes/n2/node-key.pem",
        "users/app/user-key.pem",
    ] {
        secrets.extend(body_lines(
            &std::fs::read_to_string(root.join("forest").join(file)).unwrap(),
        ));
    }

    // Output directories: one anyone may write to, one that already has a key.
    std::fs::create_dir(root.join("keys-world")).unwrap();
    std::fs::set_permissions(
        root.join("keys-world"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    std::os::unix::fs::symlink("../keys-world", root.join("in/link-to-world")).unwrap();
    project.ok(&["keygen", "--out", "keys-existing"]);
    secrets
}

fn non_utf8(prefix: &str) -> OsString {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.extend_from_slice(b"\xff\xfe");
    OsString::from_vec(bytes)
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// `build`, `pin` and `keygen`: every case fails on its arguments or at the mirror that
/// has nothing (`empty`), never downloading a release.
#[rustfmt::skip] // A table: one case a line.
pub(super) fn build_pin_keygen(empty: &str) -> Vec<Case> {
    let with_creds = empty.replace("http://", &format!("http://probe:{PASSWORD}@"));
    let with_token = empty.replace("http://", &format!("http://{TOKEN}@"));
    let b = |extra: &[&str]| os(&[&["build", "--arch", "amd64", "--mirror", empty][..], extra].concat());
    let b_os = |extra: OsString| { let mut a = b(&["--arch"]); a.push(extra); a };
    vec![
        Case::new("build --mirror ftp://", &["build", "--mirror", "ftp://h/rel"]).code(2).says("must start with https:// or http://"),
        Case::new("build --mirror with a query", &["build", "--mirror", "http://h/rel?x=1"]).code(2).says("has a query"),
        Case::new("build --mirror with a fragment", &["build", "--mirror", "http://h/rel#x"]).code(2).says("has a fragment"),
        Case::new("build --mirror with a blank", &["build", "--mirror", "http://h/r el"]).code(2).says("contains ' '"),
        Case::new("build --mirror with a newline", &["build", "--mirror", "http://h/rel\nX-Injected: 1"]).code(2).says("contains '\\n'"),
        Case::new("build --mirror with a CR", &["build", "--mirror", "http://h/rel\r"]).code(2).says("contains '\\r'"),
        Case::new("build --mirror not a URL", &["build", "--mirror", "mirror.example"]).code(2).says("is not a URL"),
        Case::new("build --mirror with no host", &["build", "--mirror", "http:///rel"]).code(2).says("has no host"),
        Case::new("build --mirror credentials and a query", &["build", "--mirror", &format!("http://probe:{PASSWORD}@h/rel?x")]).code(2).says("probe:***@h"),
        Case::new("build --mirror credentials, HTTP 404", &["build", "--arch", "amd64", "--mirror", &with_creds]).code(4).says("HTTP 404"),
        Case::new("build --mirror token, HTTP 404", &["build", "--arch", "amd64", "--mirror", &with_token]).code(4).says("***@127.0.0.1"),
        Case::new("build NIMSFOREST_MIRROR credentials, fragment", &["build"]).env("NIMSFOREST_MIRROR", format!("http://probe:{PASSWORD}@h/#x")).code(2).says("has a fragment"),
        Case::os("build --mirror not UTF-8", vec!["build".into(), "--mirror".into(), non_utf8("http://h/")]).code(2),
        Case::os("build --arch sparc", b(&["--arch", "sparc"])).code(2).says("unknown architecture 'sparc'"),
        Case::os("build --arch empty", b(&["--arch", ""])).code(2).says("unknown architecture"),
        Case::os("build --arch with a newline", b(&["--arch", "amd64\n"])).code(2).says("unknown architecture"),
        Case::os("build --arch not UTF-8", b_os(non_utf8("amd"))).code(2),
        Case::os("build --format exe", b(&["--format", "exe"])).code(2),
        Case::os("build --deb-compression bzip2", b(&["--deb-compression", "bzip2"])).code(2),
        Case::os("build --revision 1-2", b(&["--revision", "1-2"])).code(2).says("--revision"),
        Case::os("build --revision empty", b(&["--revision", ""])).code(2).says("--revision"),
        // A long revision is a valid one: it gets as far as the mirror, which has nothing.
        Case::os("build --revision huge", b(&["--revision", &"9".repeat(5000)])),
        Case::os("build --pins missing", b(&["--pins", "in/missing.toml"])).code(1).says("in/missing.toml"),
        Case::os("build --pins a directory", b(&["--pins", "in/dir"])).code(2).says("is a directory"),
        Case::os("build --pins /dev/zero", b(&["--pins", "/dev/zero"])).code(2).says("not a regular file"),
        Case::os("build --pins a FIFO", b(&["--pins", "in/fifo"])).code(2).says("not a regular file"),
        Case::os("build --pins not TOML", b(&["--pins", "in/garbage.toml"])).code(1).says("in/garbage.toml"),
        Case::os("build --pins huge", b(&["--pins", "in/huge"])).code(2).says("larger than"),
        Case::os("build --pins the password file", b(&["--pins", "in/password"])).code(1).says("in/password"),
        Case::os("build --out is a file", b(&["--out", "in/password"])).code(1).says("in/password"),
        Case::os("build --out under a file", b(&["--out", "in/password/dist"])).code(1),
        Case::new("build --manifest-path missing", &["build", "--manifest-path", "in/missing.toml"]).code(1).says("in/missing.toml"),
        Case::new("build --manifest-path /dev/zero", &["build", "--manifest-path", "/dev/zero"]).code(2).says("not a regular file"),
        Case::new("build --manifest-path a directory", &["build", "--manifest-path", "in/dir"]).code(2).says("is a directory"),
        Case::os("build SOURCE_DATE_EPOCH=yesterday", b(&[])).env("SOURCE_DATE_EPOCH", "yesterday").code(2).says("SOURCE_DATE_EPOCH"),
        Case::os("build SOURCE_DATE_EPOCH after 2106", b(&[])).env("SOURCE_DATE_EPOCH", "99999999999").code(2).says("2106"),
        Case::os("build SOURCE_DATE_EPOCH negative", b(&[])).env("SOURCE_DATE_EPOCH", "-1").code(2),
        Case::new("pin 2.15", &["pin", "2.15", "--mirror", empty]).code(2).says("VERSION"),
        Case::new("pin empty version", &["pin", "", "--mirror", empty]).code(2),
        Case::new("pin v2.15.1", &["pin", "v2.15.1", "--mirror", empty]).code(2),
        Case::new("pin ../ in the version", &["pin", "2.15.1/../../x", "--mirror", empty]).code(2),
        Case::new("pin huge version", &["pin", &format!("2.15.{}", "9".repeat(5000)), "--mirror", empty]).code(2),
        Case::new("pin --mirror credentials and a fragment", &["pin", "2.15.1", "--mirror", &format!("http://probe:{PASSWORD}@h/#x")]).code(2).says("probe:***@h"),
        Case::new("pin --mirror file://", &["pin", "2.15.1", "--mirror", "file:///etc"]).code(2).says("must start with"),
        Case::new("pin --mirror credentials, HTTP 404", &["pin", "2.15.1", "--mirror", &with_creds]).code(4).says("HTTP 404"),
        Case::new("pin NIMSFOREST_MIRROR credentials, HTTP 404", &["pin", "2.15.1"]).env("NIMSFOREST_MIRROR", &with_creds).code(4).says("probe:***@"),
        Case::new("pin --pins a directory", &["pin", "2.15.1", "--mirror", empty, "--pins", "in/dir"]).code(2).says("is a directory"),
        Case::new("pin --pins /dev/zero", &["pin", "2.15.1", "--mirror", empty, "--pins", "/dev/zero"]).code(2),
        Case::new("pin --pins not TOML", &["pin", "2.15.1", "--mirror", empty, "--pins", "in/garbage.toml"]).code(1).says("in/garbage.toml"),
        Case::new("pin --pins the password file", &["pin", "2.15.1", "--mirror", empty, "--pins", "in/password"]).code(1).says("in/password"),
        Case::new("pin --manifest-path the password file", &["pin", "2.15.1", "--mirror", empty, "--manifest-path", "in/password"]).code(1).says("in/password"),
        Case::new("keygen --out is a file", &["keygen", "--out", "in/password"]).code(2).says("not a directory"),
        Case::new("keygen --out world-writable", &["keygen", "--out", "keys-world"]).code(2).says("writable by anyone"),
        Case::new("keygen --out link to world-writable", &["keygen", "--out", "in/link-to-world"]).code(2).says("writable by anyone"),
        Case::new("keygen --out dangling link", &["keygen", "--out", "in/dangling"]).code(2).says("symbolic link to nothing"),
        Case::new("keygen --out already has a key", &["keygen", "--out", "keys-existing"]).code(2).says("already exists"),
        Case::new("keygen --user-id empty", &["keygen", "--out", "keys-new", "--user-id", ""]).code(2).says("--user-id"),
        Case::new("keygen --user-id with a newline", &["keygen", "--out", "keys-new", "--user-id", "A <a@b>\nB"]).code(2).says("one line"),
        Case::new("keygen --user-id with ESC", &["keygen", "--out", "keys-new", "--user-id", "A \x1b[2J"]).code(2).says("one line"),
        Case::new("keygen --algorithm dsa", &["keygen", "--out", "keys-new", "--algorithm", "dsa"]).code(2),
        Case::new("keygen --manifest-path not TOML", &["keygen", "--out", "keys-new", "--manifest-path", "in/garbage.toml"]).code(1),
        Case::os("keygen --out under a file (not UTF-8)", vec!["keygen".into(), "--out".into(), non_utf8("in/password/")]).code(1),
    ]
}

/// `cloud-init`: URLs, the key, the password, certificates and keys, forests.
#[rustfmt::skip] // A table: one case a line.
pub(super) fn cloud_init() -> Vec<Case> {
    let url = |u: &str| os(&["cloud-init", "--key", "in/repo.asc", "--url", u]);
    let key = |k: &str| os(&["cloud-init", "--url", "https://pkg.example/nf", "--key", k]);
    let ok = |extra: &[&str]| os(&[&["cloud-init", "--key", "in/repo.asc", "--url", "https://pkg.example/nf"][..], extra].concat());
    let forest = |dir: &str, extra: &[&str]| [ok(&["--forest", dir, "--server-name", "n1"]), os(extra)].concat();
    let url_os = |u: OsString| { let mut a = os(&["cloud-init", "--key", "in/repo.asc", "--url"]); a.push(u); a };
    vec![
        Case::os("--url ftp://", url("ftp://pkg.example/nf")).code(2).says("must start with https:// or http://"),
        Case::os("--url with user:password", url(&format!("https://probe:{PASSWORD}@pkg.example/nf"))).code(2).says("--password-file"),
        Case::os("--url with a token as user", url(&format!("https://{TOKEN}@pkg.example/nf"))).code(2).says("***@pkg.example"),
        Case::os("--url with a newline (deb822 injection)", url("https://pkg.example/nf\nTrusted: yes")).code(2).says("contains '\\n'"),
        Case::os("--url with a CR", url("https://pkg.example/nf\rTrusted: yes")).code(2).says("contains '\\r'"),
        Case::os("--url with a tab", url("https://pkg.example/\tnf")).code(2).says("contains '\\t'"),
        Case::os("--url with a query", url("https://pkg.example/nf?x=1")).code(2).says("has a query"),
        Case::os("--url with a fragment", url("https://pkg.example/nf#x")).code(2).says("has a fragment"),
        Case::os("--url with $ (dnf and cloud-init variables)", url("https://pkg.example/$basearch")).code(2).says("'$'"),
        Case::os("--url with , (dnf URL lists)", url("https://pkg.example/a,https://evil.example/")).code(2).says("','"),
        Case::os("--url with a backslash", url("https://pkg.example\\evil.example/")).code(2).says("'\\\\'"),
        Case::os("--url with a quote", url("https://pkg.example/\"x")).code(2),
        Case::os("--url with U+2028", url("https://pkg.example/\u{2028}x")).code(2),
        Case::os("--url with ESC", url("https://pkg.example/\x1b[2J")).code(2).says("'\\u{1b}'"),
        Case::os("--url empty", url("")).code(2).says("is not a URL"),
        Case::os("--url unclosed IPv6", url("https://[fd00::1/nf")).code(2),
        Case::os("--url port 99999", url("https://pkg.example:99999/nf")).code(2),
        Case::os("--url no host", url("https:///nf")).code(2).says("has no host"),
        Case::os("--url one slash", url("https:/pkg.example/nf")).code(2).says("has no host"),
        Case::os("--url not UTF-8", url_os(non_utf8("https://pkg.example/"))).code(2),
        Case::os("--url http with a password", [url("http://pkg.example/nf"), os(&["--username", "u", "--password-file", "in/password"])].concat()).code(2).says("must be https://"),
        Case::os("--url IPv6 with apt per-host CA", [url("https://[fd00::1]/nf"), os(&["--ca-cert", "in/cert.pem"])].concat()).code(2).says("IPv6"),
        Case::os("--key missing", key("in/missing.asc")).code(1).says("in/missing.asc"),
        Case::os("--key a directory", key("in/dir")).code(2).says("is a directory"),
        Case::os("--key /dev/zero", key("/dev/zero")).code(2).says("not a regular file"),
        Case::os("--key a FIFO", key("in/fifo")).code(2).says("not a regular file"),
        Case::os("--key huge (sparse)", key("in/huge")).code(2).says("larger than"),
        Case::os("--key with a lone CR and runcmd", key("in/key-cr.asc")).code(2).says("carriage return"),
        Case::os("--key the secret key", key("in/secret-key.asc")).code(2).says("public key"),
        Case::os("--key the password file", key("in/password")).code(2).says("in/password"),
        Case::os("--key two keys", key("in/two-keys.asc")).code(2),
        Case::os("--key not UTF-8", key("in/not-utf8")).code(2).says("not UTF-8"),
        Case::os("--key a dangling link", key("in/dangling")).code(1).says("in/dangling"),
        Case::os("--ca-cert with a lone CR and runcmd", ok(&["--ca-cert", "in/cr-inject.pem"])).code(2).says("carriage return"),
        Case::os("--ca-cert with runcmd after END", ok(&["--ca-cert", "in/trailing.pem"])).code(2).says("text outside"),
        Case::os("--ca-cert with text before BEGIN", ok(&["--ca-cert", "in/leading.pem"])).code(2).says("text outside"),
        Case::os("--ca-cert a private key", ok(&["--ca-cert", "in/key.pem"])).code(2).says("block labelled PRIVATE KEY"),
        Case::os("--ca-cert empty", ok(&["--ca-cert", "in/empty.pem"])).code(2).says("no PEM block"),
        Case::os("--ca-cert with NUL", ok(&["--ca-cert", "in/nul.pem"])).code(2).says("control character"),
        Case::os("--ca-cert with ESC", ok(&["--ca-cert", "in/esc.pem"])).code(2).says("control character"),
        Case::os("--ca-cert with U+2028", ok(&["--ca-cert", "in/ls.pem"])).code(2).says("non-ASCII"),
        Case::os("--ca-cert binary garbage", ok(&["--ca-cert", "in/garbage.bin"])).code(2).says("is not text"),
        Case::os("--ca-cert not a certificate inside", ok(&["--ca-cert", "in/fake-cert.pem"])).code(2).says("not valid base64"),
        Case::os("--ca-cert a directory", ok(&["--ca-cert", "in/dir"])).code(2),
        Case::os("--client-cert a bundle", ok(&["--client-cert", "in/bundle.pem", "--client-key", "in/key.pem"])).code(2).says("expected one"),
        Case::os("--client-key not PEM (secret first line)", ok(&["--client-cert", "in/cert.pem", "--client-key", "in/not-pem-key"])).code(2).says("in/not-pem-key"),
        Case::os("--client-key encrypted", ok(&["--client-cert", "in/cert.pem", "--client-key", "in/encrypted-key.pem"])).code(2).says("ENCRYPTED PRIVATE KEY"),
        Case::os("--client-key two keys", ok(&["--client-cert", "in/cert.pem", "--client-key", "in/two-keys.pem"])).code(2).says("2 PEM blocks"),
        Case::os("--client-key with EC PARAMETERS", ok(&["--client-cert", "in/cert.pem", "--client-key", "in/ec-params-key.pem"])).code(2),
        Case::os("--client-key of another certificate", ok(&["--client-cert", "in/cert.pem", "--client-key", "in/other-key.pem"])).code(2).says("client key in/other-key.pem: does not belong"),
        Case::os("--client-key a certificate", ok(&["--client-cert", "in/cert.pem", "--client-key", "in/cert.pem"])).code(2).says("block labelled CERTIFICATE"),
        Case::os("--client-cert without --client-key", ok(&["--client-cert", "in/cert.pem"])).code(2),
        Case::os("--password-file two lines", ok(&["--username", "u", "--password-file", "in/password-two-lines"])).code(2).says("in/password-two-lines"),
        Case::os("--password-file with a blank", ok(&["--username", "u", "--password-file", "in/password-blank"])).code(2),
        Case::os("--password-file with $", ok(&["--username", "u", "--password-file", "in/password-dollar"])).code(2),
        Case::os("--password-file empty", ok(&["--username", "u", "--password-file", "in/password-empty"])).code(2),
        Case::os("--password-file with a lone CR", ok(&["--username", "u", "--password-file", "in/password-cr"])).code(2),
        Case::os("--password-file not UTF-8", ok(&["--username", "u", "--password-file", "in/not-utf8"])).code(2).says("not UTF-8"),
        Case::os("--password-file /dev/zero", ok(&["--username", "u", "--password-file", "/dev/zero"])).code(2),
        Case::os("--username with a blank", ok(&["--username", "a b", "--password-file", "in/password"])).code(2).says("repository user"),
        Case::os("--username empty", ok(&["--username", "", "--password-file", "in/password"])).code(2),
        Case::os("--route without a forest id", ok(&["--route", "nats-route://10.0.0.1:6222"])).code(2),
        Case::os("--route with credentials", ok(&["--forest-id", "lab", "--insecure-open-forest", "--route", &format!("nats-route://probe:{PASSWORD}@h:6222")])).code(2).says("route"),
        Case::os("--route with a newline", ok(&["--forest-id", "lab", "--insecure-open-forest", "--route", "nats-route://h:6222\nx"])).code(2).says("route"),
        Case::os("--route port 0", ok(&["--forest-id", "lab", "--insecure-open-forest", "--route", "nats-route://h:0"])).code(2).says("port"),
        Case::os("--forest-id with a blank", ok(&["--forest-id", "a b", "--insecure-open-forest"])).code(2).says("forest id"),
        Case::os("--server-name dotted", ok(&["--server-name", "a.b"])).code(2).says("server name"),
        Case::os("--channel with a blank", ok(&["--channel", "stable main"])).code(2).says("--channel"),
        Case::os("--version with a shell command", ok(&["--version", "1; rm -rf /"])).code(2).says("package version"),
        Case::os("--forest missing", forest("in/missing", &[])).code(2).says("does not exist"),
        Case::os("--forest a file", forest("in/password", &[])).code(2).says("not a directory"),
        Case::os("--forest with ../../evil in forest.toml", forest("forest-badname", &[])).code(2).says("../../evil"),
        Case::os("--forest with a bad forest id", forest("forest-badid", &[])).code(2).says("forest id"),
        Case::os("--forest with a CR in node.pem", forest("forest-cr", &[])).code(2).says("carriage return"),
        Case::os("--forest with another node's key", forest("forest-mismatch", &[])).code(2).says("does not belong"),
        Case::os("--forest with a non-PEM node key", forest("forest-secret", &[])).code(2).says("node-key.pem"),
        Case::os("--forest world-writable", forest("forest-world", &[])).code(2).says("writable by anyone"),
        Case::os("--forest and --forest-id differ", forest("forest", &["--forest-id", "other"])).code(2).says("is the forest probe"),
        Case::os("--forest --server-name ../..", ok(&["--forest", "forest", "--server-name", "../../etc"])).code(2).says("server name"),
        Case::os("--forest --server-name without a node", ok(&["--forest", "forest", "--server-name", "n9"])).code(2).says("forest node --name n9"),
    ]
}

/// The `forest` commands.
#[rustfmt::skip] // A table: one case a line.
pub(super) fn forest() -> Vec<Case> {
    let init = |extra: &[&str]| os(&[&["forest", "init", "--dir", "new-forest", "--forest-id", "x"][..], extra].concat());
    let node = |extra: &[&str]| os(&[&["forest", "node", "--dir", "forest", "--name", "n3", "--address", "10.0.0.3"][..], extra].concat());
    let dir_os = |dir: OsString| { let mut a = os(&["forest", "node", "--name", "n3", "--address", "10.0.0.3", "--dir"]); a.push(dir); a };
    vec![
        Case::new("forest init over a forest", &["forest", "init", "--dir", "forest", "--forest-id", "x"]).code(2).says("already exists"),
        Case::new("forest init a non-empty directory", &["forest", "init", "--dir", "in/nonempty", "--forest-id", "x"]).code(2).says("not empty"),
        Case::new("forest init a file", &["forest", "init", "--dir", "in/password", "--forest-id", "x"]).code(2).says("not a directory"),
        Case::new("forest init a dangling link", &["forest", "init", "--dir", "in/dangling", "--forest-id", "x"]).code(2).says("symbolic link to nothing"),
        Case::new("forest init --forest-id with a blank", &["forest", "init", "--dir", "new-forest", "--forest-id", "a b"]).code(2).says("forest id"),
        Case::new("forest init --forest-id empty", &["forest", "init", "--dir", "new-forest", "--forest-id", ""]).code(2).says("forest id"),
        Case::new("forest init --forest-id with a quote", &["forest", "init", "--dir", "new-forest", "--forest-id", "f\"x"]).code(2).says("forest id"),
        Case::os("forest init --ca-days 4000000000", init(&["--ca-days", "4000000000"])).code(2).says("--ca-days"),
        Case::os("forest init --ca-days 0", init(&["--ca-days", "0"])).code(2).says("--ca-days"),
        Case::os("forest init --ca-days -1", init(&["--ca-days", "-1"])).code(2),
        Case::os("forest init --ca-days 36501", init(&["--ca-days", "36501"])).code(2),
        Case::os("forest init --days 0", init(&["--days", "0"])).code(2).says("--days"),
        Case::os("forest init --days beyond --ca-days", init(&["--ca-days", "10", "--days", "11"])).code(2).says("outlive the forest CA"),
        Case::new("forest node --name ../x", &["forest", "node", "--dir", "forest", "--name", "../x", "--address", "10.0.0.3"]).code(2).says("server name"),
        Case::new("forest node --name empty", &["forest", "node", "--dir", "forest", "--name", "", "--address", "10.0.0.3"]).code(2),
        Case::new("forest node again", &["forest", "node", "--dir", "forest", "--name", "n1", "--address", "10.0.0.3"]).code(2).says("forest renew n1"),
        Case::new("forest node --address 10.0.0.300", &["forest", "node", "--dir", "forest", "--name", "n3", "--address", "10.0.0.300"]).code(2).says("10.0.0.300"),
        Case::os("forest node --days 0", node(&["--days", "0"])).code(2),
        Case::os("forest node --days beyond the CA", node(&["--days", "365"])).code(2).says("forest CA's notAfter"),
        Case::os("forest node --days 4000000000", node(&["--days", "4000000000"])).code(2),
        Case::new("forest node --dir missing", &["forest", "node", "--dir", "in/missing", "--name", "n3", "--address", "10.0.0.3"]).code(2).says("does not exist"),
        Case::os("forest node --dir not UTF-8", dir_os(non_utf8("in/"))).code(2).says("does not exist"),
        Case::new("forest node in a forest with ../../evil", &["forest", "node", "--dir", "forest-badname", "--name", "n3", "--address", "10.0.0.3"]).code(2).says("../../evil"),
        Case::new("forest node with the wrong CA key", &["forest", "node", "--dir", "forest-badca", "--name", "n3", "--address", "10.0.0.3"]).code(2).says("belongs to no certificate"),
        Case::new("forest node in a world-writable forest", &["forest", "node", "--dir", "forest-world", "--name", "n3", "--address", "10.0.0.3"]).code(2).says("writable by anyone"),
        Case::new("forest user --name App", &["forest", "user", "--dir", "forest", "--name", "App"]).code(2).says("user name"),
        Case::new("forest user --name ../../evil", &["forest", "user", "--dir", "forest", "--name", "../../evil"]).code(2).says("user name"),
        Case::new("forest user --name empty", &["forest", "user", "--dir", "forest", "--name", ""]).code(2),
        Case::new("forest user --days 99999", &["forest", "user", "--dir", "forest", "--name", "u1", "--days", "99999"]).code(2),
        Case::new("forest user --days beyond the CA", &["forest", "user", "--dir", "forest", "--name", "u1", "--days", "31"]).code(2).says("forest CA's notAfter"),
        Case::new("forest user again", &["forest", "user", "--dir", "forest", "--name", "app"]).code(2).says("forest renew app"),
        Case::new("forest user --dir a file", &["forest", "user", "--dir", "in/password", "--name", "u1"]).code(2).says("not a directory"),
        Case::new("forest revoke nobody", &["forest", "revoke", "--dir", "forest", "nobody"]).code(2).says("is no node or user"),
        Case::new("forest renew nobody", &["forest", "renew", "--dir", "forest", "nobody"]).code(2).says("is no node or user"),
        Case::new("forest remove without --server", &["forest", "remove", "--dir", "forest", "n2"]).code(2).says("required arguments"),
        Case::os("forest status --server with a password", os(&["forest", "status", "--dir", "forest", "--server", &format!("tls://ops:{PASSWORD}@127.0.0.1:4222")])).code(2).says("must not carry credentials"),
        Case::new("forest status --server with a path", &["forest", "status", "--dir", "forest", "--server", "tls://127.0.0.1:4222/x"]).code(2).says("nothing after it"),
        Case::new("forest status --server http://", &["forest", "status", "--dir", "forest", "--server", "http://127.0.0.1:4222"]).code(2).says("tls://host:4222"),
        Case::new("forest status --server with a newline", &["forest", "status", "--dir", "forest", "--server", "tls://127.0.0.1:4222\nx"]).code(2).says("printable ASCII"),
    ]
}

use super::*;

fn path() -> &'static Path {
    Path::new("/in/file.pem")
}

/// A self-signed certificate and its PKCS#8 key, made by rcgen.
fn pair() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["node-1".to_string()]).unwrap();
    (made.cert.pem(), made.signing_key.serialize_pem())
}

/// The base64 lines of a PEM block.
fn body(pem: &str) -> Vec<&str> {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn refused_cert(text: &str) -> String {
    let e = Certificates::bundle("repository CA", path(), text.as_bytes()).unwrap_err();
    assert_eq!(e.exit_code(), 2);
    let shown = e.to_string();
    assert!(shown.starts_with("repository CA /in/file.pem: "), "{shown}");
    shown
}

#[test]
fn certificates_are_rewritten_from_their_bytes() {
    let (cert, _) = pair();
    let parsed = Certificates::one("client certificate", path(), cert.as_bytes()).unwrap();
    assert_eq!(parsed.certs().len(), 1);
    assert!(parsed.as_str().starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert!(parsed.as_str().ends_with("-----END CERTIFICATE-----\n"));
    assert!(parsed.as_str().lines().all(|l| l.len() <= 64));

    // CRLF line endings, 76 columns, blank lines and blanks at line ends: the same bytes.
    let joined: String = body(&cert).concat();
    let wide: Vec<String> = joined
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}  \r\n", std::str::from_utf8(c).unwrap()))
        .collect();
    let crlf = format!(
        "\r\n-----BEGIN CERTIFICATE-----\r\n{}-----END CERTIFICATE-----\r\n\r\n",
        wide.concat()
    );
    let again = Certificates::one("client certificate", path(), crlf.as_bytes()).unwrap();
    assert_eq!(again, parsed);
    assert!(!again.as_str().contains('\r'));

    // A CA bundle of two, during a rotation.
    let (other, _) = pair();
    let bundle = format!("{cert}\n{other}");
    let both = Certificates::bundle("repository CA", path(), bundle.as_bytes()).unwrap();
    assert_eq!(both.certs().len(), 2);
    let e = Certificates::one("client certificate", path(), bundle.as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds 2 certificates; expected one"), "{e}");
}

#[test]
fn hostile_pem_files_are_refused_without_repeating_them() {
    let (cert, key) = pair();
    let lines = body(&cert);
    let (first, rest) = (lines[0], lines[1..].join("\n"));
    let injected = format!(
        "-----BEGIN CERTIFICATE-----\n{first}\rruncmd: [[touch, /pwned]]\n{rest}\n-----END CERTIFICATE-----\n"
    );
    for (text, reason) in [
        (injected.clone(), "carriage return inside line 2"),
        (format!("{cert}runcmd: [[touch, /pwned]]\n"), "text outside"),
        (
            format!("runcmd: x\n{cert}"),
            "outside its PEM blocks (line 1)",
        ),
        (
            cert.replace("\n-----END", "\n\x1b[2J\n-----END"),
            "control character",
        ),
        (cert.replacen('M', "é", 1), "non-ASCII"),
        (
            cert.replace("-----END CERTIFICATE-----\n", ""),
            "has no END line",
        ),
        (
            cert.replace("END CERTIFICATE", "END PRIVATE KEY"),
            "with another label",
        ),
        (
            key.clone(),
            "holds a block labelled PRIVATE KEY; expected only CERTIFICATE",
        ),
        ("not a certificate\n".into(), "text outside"),
        (String::new(), "holds no PEM block"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
            "certificate 1 is not an X.509 certificate",
        ),
        (
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n".into(),
            "line 2 is not base64",
        ),
        (
            "-----BEGIN CERTIFICATE-----\nA=AA\n-----END CERTIFICATE-----\n".into(),
            "not valid base64",
        ),
        (
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n".into(),
            "is empty",
        ),
        (
            "-----BEGIN hunter2-----\nAAAA\n-----END hunter2-----\n".into(),
            "a block of an unknown kind",
        ),
    ] {
        let e = refused_cert(&text);
        assert!(e.contains(reason), "{text:?}: {e}");
        assert!(!e.contains("runcmd") && !e.contains("hunter2"), "{e}");
        assert!(!e.contains(first), "{e}");
    }
    let e = Certificates::bundle("x", path(), b"\xff\xfe").unwrap_err();
    assert!(e.to_string().contains("is not text"), "{e}");
}

#[test]
fn keys_parse_in_every_format_nats_server_and_apt_read() {
    let (cert, key) = pair();
    let cert = Certificates::one("c", path(), cert.as_bytes()).unwrap();
    let parsed = PrivateKey::parse("client key", path(), key.as_bytes()).unwrap();
    assert!(parsed.belongs_to(&cert.certs()[0]));
    assert_eq!(parsed.as_str(), key.replace("\r\n", "\n"));
    assert!(parsed.key_pair().is_ok());

    // SEC1: the ECPrivateKey inside the PKCS#8 (no curve named: P-256 is tried).
    let pkcs8 = ::pem::parse(&key).unwrap().into_contents();
    let (_, info, _) = der::next(&pkcs8).unwrap();
    let (_, _, after_version) = der::next(info).unwrap();
    let (_, _, after_algorithm) = der::next(after_version).unwrap();
    let (_, sec1, _) = der::next(after_algorithm).unwrap();
    let sec1_pem = encode("EC PRIVATE KEY", sec1);
    let from_sec1 = PrivateKey::parse("client key", path(), sec1_pem.as_bytes()).unwrap();
    assert!(from_sec1.belongs_to(&cert.certs()[0]));
    assert_eq!(from_sec1.as_str(), sec1_pem, "written as given: SEC1");

    let other = PrivateKey::parse("k", path(), pair().1.as_bytes()).unwrap();
    assert!(!other.belongs_to(&cert.certs()[0]));
}

#[test]
fn bad_keys_are_refused_and_never_shown() {
    let (cert, key) = pair();
    let secret_line = body(&key)[1].to_string();
    for (text, reason) in [
        (format!("{secret_line}\n"), "text outside"),
        (
            "MC4CAQAwBQYDK2VwBCIEIsecretsecret\n".to_string(),
            "text outside",
        ),
        (format!("{key}{key}"), "holds 2 PEM blocks"),
        (cert.clone(), "holds a block labelled CERTIFICATE"),
        (
            key.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
            "holds a block labelled ENCRYPTED PRIVATE KEY (decrypt it first",
        ),
        (
            key.replace("PRIVATE KEY", "RSA PRIVATE KEY"),
            "its RSA PRIVATE KEY is not a key the tool can use",
        ),
        (
            key.replacen(
                "-----\n",
                "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n",
                1,
            ),
            "headers or a blank line",
        ),
        (
            key.replace(&secret_line, &secret_line.replace('A', "B")),
            "not a key the tool can use",
        ),
    ] {
        let e = PrivateKey::parse("client key", path(), text.as_bytes()).unwrap_err();
        let shown = e.to_string();
        assert!(shown.starts_with("client key /in/file.pem: "), "{shown}");
        assert!(shown.contains(reason), "{reason}: {shown}");
        assert!(
            !shown.contains(&secret_line) && !shown.contains("secretsecret"),
            "{shown}"
        );
        assert!(!format!("{e:?}").contains(&secret_line));
    }
}

#[test]
fn a_key_never_shows_in_debug_output() {
    let (_, key) = pair();
    let parsed = PrivateKey::parse("k", path(), key.as_bytes()).unwrap();
    let shown = format!("{parsed:?}");
    assert_eq!(shown, "PrivateKey(secret)");
    for line in body(&key) {
        assert!(!shown.contains(line));
    }
}

#[test]
fn der_lengths() {
    for len in [0usize, 1, 127, 128, 255, 256, 70000] {
        let content = vec![7u8; len];
        let element = der::tlv(0x04, &content);
        let (tag, read, rest) = der::next(&element).unwrap();
        assert_eq!((tag, read.len(), rest.len()), (0x04, len, 0));
    }
    assert!(der::next(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
    assert!(der::next(&[0x30, 0x05, 1]).is_none());
    assert!(der::next(&[0x30]).is_none());
}

use pgp::composed::{KeyType, SecretKeyParamsBuilder};
use pgp::types::KeyVersion;

use super::*;

/// Before any key made by a test: the signing time moves up to the key's creation, which
/// keeps every signature valid and still fixed.
const TIME: u64 = 1_000_000_000;

fn signer(algorithm: KeyAlgorithm) -> Signer {
    let key = keygen("Test <test@example.org>", algorithm, None).unwrap();
    Signer::from_armored(&key.secret_armored, None, "test").unwrap()
}

/// A key made with rPGP's builder, for shapes `keygen` never makes.
fn built(key_type: KeyType, version: KeyVersion) -> String {
    let mut params = SecretKeyParamsBuilder::default();
    params
        .key_type(key_type)
        .version(version)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id("Built <built@example.org>".into());
    params
        .build()
        .unwrap()
        .generate(rand::thread_rng())
        .unwrap()
        .to_armored_string(ArmorOptions::default())
        .unwrap()
}

fn refusal(text: &str) -> String {
    Signer::from_armored(text, None, "K")
        .unwrap_err()
        .to_string()
}

#[test]
fn ed25519_signatures_are_deterministic_for_a_fixed_time() {
    let signer = signer(KeyAlgorithm::Ed25519).with_signing_time(TIME);
    let a = signer.detached_armored(b"data").unwrap();
    assert_eq!(a, signer.detached_armored(b"data").unwrap());
    assert_ne!(a, signer.detached_armored(b"other data").unwrap());
    let c = signer.clearsign("Origin: x\nSuite: stable\n").unwrap();
    assert_eq!(c, signer.clearsign("Origin: x\nSuite: stable\n").unwrap());
    assert!(c.starts_with("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: x\n"));

    // The same key loaded again signs identically; another time signs differently.
    let again = Signer::from_armored(&signer_text(&signer), None, "again")
        .unwrap()
        .with_signing_time(TIME);
    assert_eq!(a, again.detached_armored(b"data").unwrap());
    let valid_from = u64::from(again.valid_from);
    let later = again.with_signing_time(valid_from + 1);
    assert_ne!(a, later.detached_armored(b"data").unwrap());
}

fn signer_text(signer: &Signer) -> String {
    signer
        .key
        .to_armored_string(ArmorOptions::default())
        .unwrap()
}

#[test]
fn signatures_verify_and_carry_the_fixed_time() {
    let signer = signer(KeyAlgorithm::Ed25519).with_signing_time(TIME);
    let public = signer.public_key();
    let armored = signer.detached_armored(b"payload").unwrap();
    let (sig, _) = DetachedSignature::from_string(&armored).unwrap();
    sig.verify(&public, b"payload").unwrap();
    assert!(sig.verify(&public, b"payload!").is_err());
    assert_eq!(sig.signature.hash_alg(), Some(HashAlgorithm::Sha512));
    assert_eq!(
        sig.signature.created().map(|t| t.as_secs()),
        Some(signer.valid_from)
    );

    // Trailing blanks are not signed, the last line break is the armor's (as gpg does).
    let signed = signer.clearsign("a \n- dashed\nb\n").unwrap();
    assert!(
        signed.contains("\n\na \n- - dashed\nb\n-----BEGIN PGP SIGNATURE-----\n"),
        "{signed}"
    );
    let (message, _) = CleartextSignedMessage::from_string(&signed).unwrap();
    message.verify(&public).unwrap();
    assert_eq!(message.signed_text(), "a\r\n- dashed\r\nb");
}

#[test]
fn a_signing_time_before_the_key_moves_up_to_its_creation() {
    let signer = signer(KeyAlgorithm::Ed25519);
    let created = signer.key.primary_key.created_at().as_secs();
    let self_signed = signer.key.details.users[0].signatures[0]
        .created()
        .unwrap()
        .as_secs();
    assert!(self_signed >= created);
    let signer = signer.with_signing_time(1_000);
    assert_eq!(signer.signing_time, Some(self_signed));
    let signer = signer.with_signing_time(u64::from(self_signed) + 5);
    assert_eq!(signer.signing_time, Some(self_signed + 5));
}

#[test]
fn keygen_makes_keys_every_client_reads() {
    let key = keygen("Test <test@example.org>", KeyAlgorithm::Ed25519, Some("pw")).unwrap();
    let signer = Signer::from_armored(&key.secret_armored, Some("pw"), "t").unwrap();
    assert_eq!(signer.choice, SigningKeyChoice::Primary);
    let primary = &signer.key.primary_key;
    assert_eq!(primary.version(), KeyVersion::V4);
    assert_eq!(
        primary.algorithm(),
        pgp::crypto::public_key::PublicKeyAlgorithm::EdDSALegacy
    );
    for user in &signer.key.details.users {
        for sig in &user.signatures {
            assert_eq!(sig.hash_alg(), Some(HashAlgorithm::Sha256));
        }
    }
    assert!(key
        .fingerprint
        .chars()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    assert!(keygen(" ", KeyAlgorithm::Ed25519, None).is_err());
}

#[test]
fn weak_or_unreadable_algorithms_are_refused() {
    assert_eq!(
        refusal(&built(KeyType::Rsa(2048), KeyVersion::V4)),
        "signing key K: RSA-2048 is refused: current clients need RSA >= 3072 bits or Ed25519"
    );
    assert!(refusal(&built(KeyType::Ed25519, KeyVersion::V4))
        .starts_with("signing key K: Ed25519 in the RFC 9580 format (algorithm 27) is refused"));
    assert!(refusal(&built(KeyType::Ed25519, KeyVersion::V6))
        .starts_with("signing key K: is an OpenPGP V6 key"));
    assert_eq!(
        refusal(&built(
            KeyType::ECDSA(pgp::crypto::ecc_curve::ECCCurve::P256),
            KeyVersion::V4
        )),
        "signing key K: ECDSA is refused: current clients need RSA >= 3072 bits or Ed25519"
    );
}

#[test]
fn rsa_bit_length_comes_from_the_modulus() {
    let text = built(KeyType::Rsa(3072), KeyVersion::V4);
    let signer = Signer::from_armored(&text, None, "K").unwrap();
    assert_eq!(signer.choice, SigningKeyChoice::Primary);
}

#[test]
fn debug_output_shows_no_key_material() {
    let signer = signer(KeyAlgorithm::Ed25519);
    let shown = format!("{signer:?}");
    assert!(shown.contains(&signer.fingerprint()), "{shown}");
    assert!(!shown.contains("secret"), "{shown}");
}

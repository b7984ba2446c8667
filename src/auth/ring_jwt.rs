//! jsonwebtoken's cryptography on `ring`, the crypto library the gateway already
//! builds for TLS (`src/tls.rs`).
//!
//! jsonwebtoken keeps its cryptography behind [`CryptoProvider`] and ships two: one
//! on aws-lc-rs (a C build, the slowest unit of a clean build) and one on the
//! RustCrypto crates (`rsa`, `p256`, `p384`, `ed25519-dalek` and the crates under
//! them, 29 in all: a second implementation of what `ring` does, and `rsa` with an
//! advisory that has no fixed version, RUSTSEC-2023-0071). This is the aws-lc-rs
//! provider's mapping with `ring`'s API, which aws-lc-rs copies: every algorithm of
//! [`Algorithm`], each accepted only with a key of its own family, so a key
//! never serves another algorithm (algorithm confusion is refused here as well as
//! by the pinned `auth.algorithm`).
//!
//! Keys are the bytes jsonwebtoken decodes from PEM or a JWK: an RSA key as
//! PKCS#1 DER, an EC private key as PKCS#8, an EC public key as its uncompressed
//! point, an Ed25519 key as PKCS#8 or its 32 bytes. [`install`] makes it the
//! process's provider; every path that signs or verifies calls it first.

use jsonwebtoken::{
    Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey,
    crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils},
    errors::{ErrorKind, Result},
    jwk::{EllipticCurve, ThumbprintHash},
    signature::{self, Signer, Verifier},
};
use ring::{
    digest, hmac,
    rand::SystemRandom,
    rsa,
    signature::{self as ring_sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair},
};

/// The provider: jsonwebtoken's signing and verification on `ring`.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: rsa_components_from_private_key,
        rsa_pub_components_from_public_key: rsa_components_from_public_key,
        ec_pub_components_from_private_key: ec_components_from_private_key,
        ed_pub_components_from_private_key: ed_components_from_private_key,
        compute_digest,
    },
};

/// Makes [`PROVIDER`] jsonwebtoken's provider for the process. Idempotent; cheap
/// after the first call. jsonwebtoken built without a provider of its own panics
/// at the first signature it checks or makes without one installed, so the path
/// that gets there, [`crate::auth::Authenticator::new`], calls this first (reading
/// a key from PEM or a JWK needs no provider).
pub fn install() {
    // `Err` only when a provider is installed already: this one (the only one built).
    let _ = PROVIDER.install_default();
}

/// How a token is signed.
enum SigningKey {
    Hmac(hmac::Key),
    Rsa(RsaKeyPair, &'static dyn ring_sig::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// Signs with one key for one algorithm.
struct RingSigner {
    algorithm: Algorithm,
    key: SigningKey,
}

impl Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match &self.key {
            SigningKey::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
            SigningKey::Rsa(key, encoding) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(*encoding, &rng, message, &mut signature)
                    .map_err(|_| signature::Error::new())?;
                Ok(signature)
            }
            SigningKey::Ecdsa(key) => Ok(key
                .sign(&rng, message)
                .map_err(|_| signature::Error::new())?
                .as_ref()
                .to_vec()),
            SigningKey::Ed25519(key) => Ok(key.sign(message).as_ref().to_vec()),
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// How a signature is checked.
enum VerifyingKey {
    Hmac(hmac::Key),
    /// A public key as bytes: RSA as PKCS#1 DER, EC as its point, Ed25519 raw.
    Public(&'static dyn ring_sig::VerificationAlgorithm, Vec<u8>),
    /// An RSA key as its modulus and exponent (a JWK).
    RsaComponents(&'static ring_sig::RsaParameters, Vec<u8>, Vec<u8>),
}

/// Checks signatures with one key for one algorithm.
struct RingVerifier {
    algorithm: Algorithm,
    key: VerifyingKey,
}

impl Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        match &self.key {
            VerifyingKey::Hmac(key) => hmac::verify(key, message, signature),
            VerifyingKey::Public(algorithm, key) => {
                ring_sig::UnparsedPublicKey::new(*algorithm, key).verify(message, signature)
            }
            VerifyingKey::RsaComponents(parameters, n, e) => {
                ring_sig::RsaPublicKeyComponents { n, e }.verify(parameters, message, signature)
            }
        }
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }
}

/// `Ok` when `family` is `algorithm`'s: a key serves only its own algorithms.
fn same_family(algorithm: Algorithm, family: AlgorithmFamily) -> Result<()> {
    if algorithm.family() == family {
        Ok(())
    } else {
        Err(ErrorKind::InvalidKeyFormat.into())
    }
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    let algorithm = *algorithm;
    same_family(algorithm, key.family())?;
    let der = key.as_bytes();
    let rsa =
        |encoding: &'static dyn ring_sig::RsaEncoding| rsa_key_pair(der).map(|pair| SigningKey::Rsa(pair, encoding));
    let ecdsa = |signing: &'static ring_sig::EcdsaSigningAlgorithm| {
        EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
            .map(SigningKey::Ecdsa)
            .map_err(|_| ErrorKind::InvalidEcdsaKey)
    };
    let key = match algorithm {
        Algorithm::HS256 => SigningKey::Hmac(hmac::Key::new(hmac::HMAC_SHA256, der)),
        Algorithm::HS384 => SigningKey::Hmac(hmac::Key::new(hmac::HMAC_SHA384, der)),
        Algorithm::HS512 => SigningKey::Hmac(hmac::Key::new(hmac::HMAC_SHA512, der)),
        Algorithm::RS256 => rsa(&ring_sig::RSA_PKCS1_SHA256)?,
        Algorithm::RS384 => rsa(&ring_sig::RSA_PKCS1_SHA384)?,
        Algorithm::RS512 => rsa(&ring_sig::RSA_PKCS1_SHA512)?,
        Algorithm::PS256 => rsa(&ring_sig::RSA_PSS_SHA256)?,
        Algorithm::PS384 => rsa(&ring_sig::RSA_PSS_SHA384)?,
        Algorithm::PS512 => rsa(&ring_sig::RSA_PSS_SHA512)?,
        Algorithm::ES256 => ecdsa(&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING)?,
        Algorithm::ES384 => ecdsa(&ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING)?,
        Algorithm::EdDSA => SigningKey::Ed25519(
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|_| ErrorKind::InvalidEddsaKey)?,
        ),
        _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
    };
    Ok(Box::new(RingSigner { algorithm, key }))
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    let algorithm = *algorithm;
    same_family(algorithm, key.family())?;
    let hmac = |algorithm| -> Result<VerifyingKey> {
        Ok(VerifyingKey::Hmac(hmac::Key::new(algorithm, key.try_get_as_bytes()?)))
    };
    let public = |verification: &'static dyn ring_sig::VerificationAlgorithm| -> Result<VerifyingKey> {
        Ok(VerifyingKey::Public(verification, key.try_get_as_bytes()?.to_vec()))
    };
    let rsa = |parameters: &'static ring_sig::RsaParameters| match key.kind() {
        DecodingKeyKind::SecretOrDer(der) => VerifyingKey::Public(parameters, der.clone()),
        DecodingKeyKind::RsaModulusExponent { n, e } => VerifyingKey::RsaComponents(parameters, n.clone(), e.clone()),
    };
    let key = match algorithm {
        Algorithm::HS256 => hmac(hmac::HMAC_SHA256)?,
        Algorithm::HS384 => hmac(hmac::HMAC_SHA384)?,
        Algorithm::HS512 => hmac(hmac::HMAC_SHA512)?,
        Algorithm::RS256 => rsa(&ring_sig::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => rsa(&ring_sig::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => rsa(&ring_sig::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => rsa(&ring_sig::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => rsa(&ring_sig::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => rsa(&ring_sig::RSA_PSS_2048_8192_SHA512),
        Algorithm::ES256 => public(&ring_sig::ECDSA_P256_SHA256_FIXED)?,
        Algorithm::ES384 => public(&ring_sig::ECDSA_P384_SHA384_FIXED)?,
        Algorithm::EdDSA => public(&ring_sig::ED25519)?,
        _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
    };
    Ok(Box::new(RingVerifier { algorithm, key }))
}

/// An RSA private key as jsonwebtoken holds it: PKCS#1 DER (from either PEM form),
/// or PKCS#8 when it was given as DER.
fn rsa_key_pair(der: &[u8]) -> Result<RsaKeyPair> {
    RsaKeyPair::from_der(der)
        .or_else(|_| RsaKeyPair::from_pkcs8(der))
        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()).into())
}

/// An RSA private key's public modulus and exponent (a JWK made from it).
fn rsa_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = rsa_key_pair(der)?;
    let components = rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((components.n, components.e))
}

/// Not offered: `ring` reads no RSA public key apart from checking a signature
/// with it. Only a JWK made from a decoding key needs it; the gateway makes none.
fn rsa_components_from_public_key(_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    Err(ErrorKind::Provider("a JWK from an RSA public key is not supported (ring)".into()).into())
}

/// An EC private key's curve and public point (a JWK made from it).
fn ec_components_from_private_key(der: &[u8], algorithm: Algorithm) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (signing, curve, size) = match algorithm {
        Algorithm::ES256 => (&ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING, EllipticCurve::P256, 32),
        Algorithm::ES384 => (&ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING, EllipticCurve::P384, 48),
        _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
    };
    let pair = EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new()).map_err(|_| ErrorKind::InvalidEcdsaKey)?;
    // An uncompressed point: 0x04, x, y.
    match pair.public_key().as_ref().split_first() {
        Some((4, point)) if point.len() == 2 * size => {
            let (x, y) = point.split_at(size);
            Ok((curve, x.to_vec(), y.to_vec()))
        }
        _ => Err(ErrorKind::InvalidEcdsaKey.into()),
    }
}

/// An Ed25519 private key's public key (a JWK made from it).
fn ed_components_from_private_key(der: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    match curve {
        EllipticCurve::Ed25519 => Ok(Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|_| ErrorKind::InvalidEddsaKey)?
            .public_key()
            .as_ref()
            .to_vec()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

/// A JWK thumbprint's digest.
fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let algorithm = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(ErrorKind::UnsupportedAlgorithm.into()),
    };
    Ok(digest::digest(algorithm, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Header, Validation, jwk::Jwk};
    use ring::rand::SystemRandom;
    use serde_json::{Value, json};

    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read(path).unwrap()
    }

    /// Signs claims with `encoding`, then decodes them with `decoding`.
    fn round_trip(algorithm: Algorithm, encoding: &EncodingKey, decoding: &DecodingKey) -> Result<Value> {
        install();
        let token = jsonwebtoken::encode(
            &Header::new(algorithm),
            &json!({"sub": "7", "exp": 9_999_999_999u64}),
            encoding,
        )?;
        jsonwebtoken::decode::<Value>(&token, decoding, &Validation::new(algorithm)).map(|data| data.claims)
    }

    /// A key pair of each kind `ring` can make, as (private PKCS#8, public key bytes).
    fn generated(algorithm: Algorithm) -> (EncodingKey, DecodingKey) {
        let rng = SystemRandom::new();
        match algorithm {
            Algorithm::EdDSA => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
                let public = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                    .unwrap()
                    .public_key()
                    .as_ref()
                    .to_vec();
                (
                    EncodingKey::from_ed_der(pkcs8.as_ref()),
                    DecodingKey::from_ed_der(&public),
                )
            }
            _ => {
                let signing = match algorithm {
                    Algorithm::ES384 => &ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                    _ => &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                };
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
                let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
                (
                    EncodingKey::from_ec_der(pkcs8.as_ref()),
                    DecodingKey::from_ec_der(pair.public_key().as_ref()),
                )
            }
        }
    }

    #[test]
    fn every_algorithm_signs_and_verifies() {
        let secret = b"a-secret-that-is-long-enough-for-hs512-and-more";
        for algorithm in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
            let claims = round_trip(
                algorithm,
                &EncodingKey::from_secret(secret),
                &DecodingKey::from_secret(secret),
            );
            assert_eq!(claims.unwrap()["sub"], "7", "{algorithm:?}");
        }
        let rsa_private = EncodingKey::from_rsa_pem(&fixture("rs256-private.pem")).unwrap();
        let rsa_public = DecodingKey::from_rsa_pem(&fixture("rs256-public.pem")).unwrap();
        for algorithm in [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
        ] {
            assert_eq!(
                round_trip(algorithm, &rsa_private, &rsa_public).unwrap()["sub"],
                "7",
                "{algorithm:?}"
            );
        }
        let ec_private = EncodingKey::from_ec_pem(&fixture("es256-private.pem")).unwrap();
        let ec_public = DecodingKey::from_ec_pem(&fixture("es256-public.pem")).unwrap();
        assert_eq!(
            round_trip(Algorithm::ES256, &ec_private, &ec_public).unwrap()["sub"],
            "7"
        );
        for algorithm in [Algorithm::ES384, Algorithm::EdDSA] {
            let (private, public) = generated(algorithm);
            assert_eq!(
                round_trip(algorithm, &private, &public).unwrap()["sub"],
                "7",
                "{algorithm:?}"
            );
        }
    }

    #[test]
    fn a_jwk_made_from_a_private_key_verifies_its_tokens() {
        install();
        let rsa_private = EncodingKey::from_rsa_pem(&fixture("rs256-private.pem")).unwrap();
        let jwk = Jwk::from_encoding_key(&rsa_private, Algorithm::RS256).unwrap();
        let public = DecodingKey::from_jwk(&jwk).unwrap();
        assert!(matches!(public.kind(), DecodingKeyKind::RsaModulusExponent { .. }));
        assert_eq!(round_trip(Algorithm::RS256, &rsa_private, &public).unwrap()["sub"], "7");
        // (Not EdDSA: jsonwebtoken makes a JWK only from a PKCS#8 v1 Ed25519 key of
        // 48 bytes, and ring writes v2, with the public key.)
        for algorithm in [Algorithm::ES256, Algorithm::ES384] {
            let (private, _) = generated(algorithm);
            let jwk = Jwk::from_encoding_key(&private, algorithm).unwrap();
            let public = DecodingKey::from_jwk(&jwk).unwrap();
            assert_eq!(
                round_trip(algorithm, &private, &public).unwrap()["sub"],
                "7",
                "{algorithm:?}"
            );
        }
    }

    #[test]
    fn a_wrong_key_a_key_of_another_family_and_a_changed_token_are_refused() {
        install();
        let secret = b"a-secret-that-is-long-enough-for-hs512-and-more";
        let other = DecodingKey::from_secret(b"another-secret-that-is-long-enough");
        let refused = round_trip(Algorithm::HS256, &EncodingKey::from_secret(secret), &other).unwrap_err();
        assert_eq!(refused.kind(), &ErrorKind::InvalidSignature);
        // An RSA public key's PEM used as an HS256 secret: algorithm confusion.
        let public_pem = fixture("rs256-public.pem");
        let rsa_public = DecodingKey::from_rsa_pem(&public_pem).unwrap();
        let confused = round_trip(Algorithm::HS256, &EncodingKey::from_secret(&public_pem), &rsa_public).unwrap_err();
        assert_eq!(confused.kind(), &ErrorKind::InvalidKeyFormat);
        assert!(new_signer(&Algorithm::RS256, &EncodingKey::from_secret(secret)).is_err());
        // A signature that does not match the claims it came with.
        let (private, public) = generated(Algorithm::ES256);
        let header = Header::new(Algorithm::ES256);
        let one = jsonwebtoken::encode(&header, &json!({"sub": "7", "exp": 9_999_999_999u64}), &private).unwrap();
        let two = jsonwebtoken::encode(&header, &json!({"sub": "8", "exp": 9_999_999_999u64}), &private).unwrap();
        let (body, _) = two.rsplit_once('.').unwrap();
        let (_, signature) = one.rsplit_once('.').unwrap();
        let forged = format!("{body}.{signature}");
        let refused = jsonwebtoken::decode::<Value>(&forged, &public, &Validation::new(Algorithm::ES256)).unwrap_err();
        assert_eq!(refused.kind(), &ErrorKind::InvalidSignature);
    }
}

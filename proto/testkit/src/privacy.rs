//! The privacy center's signing key in tests: one fixed, public test key
//! (`FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY`), so tests can check tokens and
//! receipts the collector signs. Never use it anywhere else.

/// The variable the collector reads its signing key from.
pub const SIGNING_KEY_VAR: &str = "FIDUCIA_COLLECTOR_PRIVACY_SIGNING_KEY";

/// `<kid>:<base64url seed>`: the seed is the bytes 0..32.
pub const SIGNING_KEY: &str = "test:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

//! Passwords, for browser sign-in only: Argon2id with a random salt (a slow hash on
//! purpose; API keys are random secrets and need none), kept as a PHC string.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};

/// The fewest characters a password may have.
pub const MIN_PASSWORD: usize = 10;

/// The PHC string of `password`, or why it is refused.
///
/// ```
/// use labbook_server::{hash_password, verify_password};
/// let phc = hash_password("correct horse battery").unwrap();
/// assert!(phc.starts_with("$argon2id$"));
/// assert!(verify_password("correct horse battery", &phc));
/// assert!(!verify_password("wrong", &phc));
/// assert!(hash_password("short").is_err());
/// ```
pub fn hash_password(password: &str) -> Result<String, String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(format!("a password has at least {MIN_PASSWORD} characters"));
    }
    let salt: [u8; 16] = super::random_bytes();
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` is the one `phc` was made from.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

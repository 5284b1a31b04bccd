//! Password hashing with Argon2id at OWASP's parameters (m = 19456 KiB, t = 2, p = 1,
//! 16-byte random salt), stored as PHC strings.
//!
//! [`PasswordHasher`] runs the work on its own small pool of threads, started on first use,
//! at most one per core by default, so a burst of logins can neither starve the async
//! runtime nor exhaust memory (each hash holds 19 MiB); a caller that waits longer than the configured bound gets
//! [`PasswordError::Busy`] instead of queueing forever. On Linux the pool runs under the
//! `SCHED_IDLE` policy: request handling preempts hashing whenever it wakes up, and hashing
//! gets every idle cycle, so a login storm neither starves other routes nor wastes the
//! machine. (The scheduler can still let a hash finish its tick before a request that was
//! already runnable, so every extra thread hop on a request path, such as a blocking-pool
//! round trip, is a small chance of a millisecond-scale wait while all cores hash; fewer
//! hashing threads, via [`PasswordHasher::with_limits`], trade hashing throughput for that
//! tail.)
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use tower_jwt_auth::password;
//! use tower_jwt_auth::password::PasswordHasher;
//!
//! let hasher = PasswordHasher::new();
//! let phc = hasher.hash("correct horse battery staple").await.unwrap();
//! assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
//!
//! // Accepted: the right password.
//! assert!(hasher.verify("correct horse battery staple", &phc).await.unwrap());
//! // Rejected: a wrong one.
//! assert!(!hasher.verify("Tr0ub4dor&3", &phc).await.unwrap());
//! assert!(!password::needs_rehash(&phc));
//! # }
//! ```
//!
//! # Choosing a password
//!
//! [`Policy`] is NIST SP 800-63B's rule for a new password (at least 8 characters, at most
//! 1024 bytes, not a common password), to check at registration and on a password change,
//! not at login (the [`service`](crate::service)'s login does not apply it):
//!
//! ```
//! use tower_jwt_auth::password::{Policy, PolicyError};
//!
//! let policy = Policy::default();
//! assert_eq!(policy.check("correct horse battery"), Ok(()));
//! assert_eq!(policy.check("iloveyou"), Err(PolicyError::Common));
//! assert_eq!(
//!     policy.check("ééééééé").unwrap_err().to_string(),
//!     "password must be at least 8 characters"
//! );
//! ```

use std::fmt;

use argon2::{Argon2, Params, PasswordHash, PasswordHasher as _};
use ctutils::CtEq;

mod policy;
mod pool;
pub use policy::{Policy, PolicyError};
pub use pool::PasswordHasher;

/// Why a password could not be hashed or checked.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    /// Every hashing slot stayed busy for longer than the configured wait.
    Busy,
    /// The stored hash is not a PHC string this crate can verify.
    InvalidHash,
    /// An admitted job took longer than the configured bound
    /// ([`PasswordHasher::max_hash_time`]); its slot stays taken until it ends.
    Timeout,
    /// Hashing failed (e.g. no randomness for the salt) or its job panicked.
    Failed(String),
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordError::Busy => f.write_str("too many password checks in progress"),
            PasswordError::InvalidHash => f.write_str("the stored password hash is invalid"),
            PasswordError::Timeout => f.write_str("a password check took too long"),
            PasswordError::Failed(why) => write!(f, "password hashing failed: {why}"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// Hashes `password` with Argon2id at the default parameters, on the calling thread.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    hash_with(password, &Params::default())
}

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params.clone(),
    )
}

pub(crate) fn hash_with(password: &str, params: &Params) -> Result<String, PasswordError> {
    argon2id(params)
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Failed(e.to_string()))
}

/// A hash at `params` that no password is expected to match: unknown users are checked
/// against it so that they cost as much as known ones. Its salt is fixed, so it needs no
/// randomness.
pub(crate) fn dummy_hash(params: &Params) -> String {
    argon2id(params)
        .hash_password_with_salt(b"tower-jwt-auth: no such user", b"tower-jwt-auth-d")
        .map(|hash| hash.to_string())
        .unwrap_or_default()
}

/// Checks `password` against a stored PHC string, on the calling thread. The parameters
/// come from the PHC string, so older, weaker hashes still verify; parameters beyond
/// [`MAX_M_COST`], [`MAX_T_COST`] or [`MAX_P_COST`] are refused as
/// [`PasswordError::InvalidHash`] (a stored hash must not be able to cost minutes).
pub fn verify(password: &str, phc: &str) -> Result<bool, PasswordError> {
    verify_with(password, phc, false)
}

/// The largest memory cost (KiB) a stored hash may ask for: 256 MiB.
pub const MAX_M_COST: u32 = 256 * 1024;
/// The largest time cost (passes) a stored hash may ask for.
pub const MAX_T_COST: u32 = 64;
/// The largest parallelism a stored hash may ask for.
pub const MAX_P_COST: u32 = 16;

/// Memory a pool thread keeps for verification between jobs: up to 64 MiB (`m` up to
/// 65536 KiB); a hash asking for more gets memory of its own, freed when it is done.
const REUSED_BLOCKS_MAX: usize = 65_536;

thread_local! {
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`verify`], computing into this thread's reusable Argon2 memory (the pool's threads).
pub(crate) fn verify_reusing_memory(password: &str, phc: &str) -> Result<bool, PasswordError> {
    verify_with(password, phc, true)
}

fn verify_with(password: &str, phc: &str, reuse_memory: bool) -> Result<bool, PasswordError> {
    fn invalid<E>(_: E) -> PasswordError {
        PasswordError::InvalidHash
    }
    let parsed = PasswordHash::new(phc).map_err(invalid)?;
    let algorithm = argon2::Algorithm::try_from(parsed.algorithm.as_str()).map_err(invalid)?;
    let version = match parsed.version {
        Some(v) => argon2::Version::try_from(v).map_err(invalid)?,
        None => argon2::Version::default(),
    };
    let params = Params::try_from(&parsed).map_err(invalid)?;
    if params.m_cost() > MAX_M_COST || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST
    {
        return Err(PasswordError::InvalidHash);
    }
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return Err(PasswordError::InvalidHash);
    };
    let expected = expected.as_bytes();
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let blocks = params.block_count();
    let computed = if reuse_memory && blocks <= REUSED_BLOCKS_MAX {
        BLOCKS.with_borrow_mut(|memory| {
            memory.resize(blocks, argon2::Block::default());
            argon2.hash_password_into_with_memory(
                password.as_bytes(),
                salt.as_ref(),
                &mut out,
                &mut memory[..],
            )
        })
    } else {
        argon2.hash_password_into(password.as_bytes(), salt.as_ref(), &mut out)
    };
    computed.map_err(|_| PasswordError::InvalidHash)?;
    Ok(out.as_slice().ct_eq(expected).to_bool())
}

/// Whether a stored hash is weaker than the current parameters (another algorithm or
/// variant, or lower memory, time or parallelism cost) and should be replaced.
pub fn needs_rehash(phc: &str) -> bool {
    weaker_than(phc, &Params::default())
}

pub(crate) fn weaker_than(phc: &str, today: &Params) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT || parsed.version != Some(0x13) {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(params) => {
            params.m_cost() < today.m_cost()
                || params.t_cost() < today.t_cost()
                || params.p_cost() < today.p_cost()
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PHC string for "pw" with the given variant, version and parameters.
    pub(super) fn phc(
        algorithm: argon2::Algorithm,
        version: argon2::Version,
        params: Params,
    ) -> String {
        Argon2::new(algorithm, version, params)
            .hash_password(b"pw")
            .unwrap()
            .to_string()
    }

    fn weak() -> String {
        phc(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
    }

    #[test]
    fn weaker_hashes_need_rehash() {
        let weak = weak();
        assert!(needs_rehash(&weak));
        assert!(verify("pw", &weak).unwrap());
        let argon2i = phc(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x13,
            Params::default(),
        );
        assert!(needs_rehash(&argon2i));
        assert!(needs_rehash("not a phc string"));
        assert!(!needs_rehash(&hash("pw").unwrap()));
    }

    #[test]
    fn reusing_memory_gives_the_same_answers() {
        let weak = weak();
        let strong = hash("pw").unwrap();
        let argon2i = phc(
            argon2::Algorithm::Argon2i,
            argon2::Version::V0x10,
            Params::default(),
        );
        // Alternate sizes and variants so that the buffer is reused, shrunk and grown.
        for phc in [&strong, &weak, &argon2i, &strong, &weak] {
            assert_eq!(verify_reusing_memory("pw", phc), Ok(true), "{phc}");
            assert_eq!(verify_reusing_memory("nope", phc), Ok(false), "{phc}");
            assert_eq!(verify("pw", phc), Ok(true));
        }
        assert_eq!(
            verify_reusing_memory("pw", "$argon2id$garbage"),
            Err(PasswordError::InvalidHash)
        );
        let dummy = dummy_hash(&Params::default());
        assert_eq!(verify_reusing_memory("pw", &dummy), Ok(false));
        assert_eq!(verify_reusing_memory("", &dummy), Ok(false));
    }

    #[test]
    fn invalid_stored_hash() {
        assert_eq!(
            verify("pw", "$argon2id$garbage"),
            Err(PasswordError::InvalidHash)
        );
        assert_eq!(verify("pw", ""), Err(PasswordError::InvalidHash));
    }

    /// Known answers at the default parameters, computed by the reference C implementation
    /// (argon2-cffi 25.1's `hash_secret`, type ID, m = 19456, t = 2, p = 1, 32 bytes): the
    /// PHC strings must stay byte-identical whatever the `argon2` crate's features or code
    /// paths (its AVX2 compression is chosen at run time).
    const KNOWN: [(&str, &[u8; 16], &str); 2] = [
        (
            "correct horse battery staple",
            b"tower-jwt-auth-t",
            "$argon2id$v=19$m=19456,t=2,p=1$dG93ZXItand0LWF1dGgtdA$\
             Ag0xsDWYqsq8o1tpnHQaAZ+fHN1wBBK6anjJpVYHXtc",
        ),
        (
            "tower-jwt-auth: no such user",
            b"tower-jwt-auth-d",
            "$argon2id$v=19$m=19456,t=2,p=1$dG93ZXItand0LWF1dGgtZA$\
             E+RWJNsDPI/nte8/7glu4tKBN7oXW4fXMZq5n6m6cOs",
        ),
    ];

    #[test]
    fn hashes_match_the_reference_implementation() {
        let params = Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (19_456, 2, 1),
            "OWASP's parameters"
        );
        for (password, salt, expected) in KNOWN {
            let phc = argon2id(&params)
                .hash_password_with_salt(password.as_bytes(), salt)
                .unwrap()
                .to_string();
            assert_eq!(phc, expected);
            assert_eq!(verify(password, expected), Ok(true));
            assert_eq!(verify_reusing_memory(password, expected), Ok(true));
            assert_eq!(verify_reusing_memory("not it", expected), Ok(false));
        }
        assert_eq!(dummy_hash(&params), KNOWN[1].2);
    }

    #[test]
    fn salts_are_16_random_bytes() {
        let (a, b) = (hash("pw").unwrap(), hash("pw").unwrap());
        assert_ne!(a, b);
        let salt = PasswordHash::new(&a).unwrap().salt.unwrap();
        assert_eq!(salt.len(), 16);
    }

    #[test]
    fn absurd_stored_parameters_are_refused_without_hashing() {
        for params in [
            Params::new(MAX_M_COST + 8, 1, 1, None).unwrap(),
            Params::new(8, MAX_T_COST + 1, 1, None).unwrap(),
            Params::new(8 * (MAX_P_COST + 1), 1, MAX_P_COST + 1, None).unwrap(),
        ] {
            // A PHC string naming the parameters (the hash itself is never computed).
            let cheap = phc(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                Params::new(8, 1, 1, None).unwrap(),
            );
            let named = cheap.replacen(
                "m=8,t=1,p=1",
                &format!(
                    "m={},t={},p={}",
                    params.m_cost(),
                    params.t_cost(),
                    params.p_cost()
                ),
                1,
            );
            assert_eq!(
                verify("pw", &named),
                Err(PasswordError::InvalidHash),
                "{named}"
            );
        }
    }
}

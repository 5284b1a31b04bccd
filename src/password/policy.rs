//! The password policy of NIST SP 800-63B (section 3.1.1.2) for choosing a password: a
//! floor on its length in characters, a cap on its length in bytes, and no password found
//! in a list of common ones (Django's, vendored in `common-passwords.txt`; its licence is
//! `COMMON-PASSWORDS-LICENSE`).

use std::fmt;
use std::sync::LazyLock;

/// Django's list of 19,640 common passwords (Django 5.2, from Royce Williams' list),
/// lowercase, one a line.
const COMMON: &str = include_str!("common-passwords.txt");

/// The list, sorted once on first use, looked up by binary search.
static SORTED: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    let mut list: Vec<&'static str> = COMMON.lines().collect();
    list.sort_unstable();
    list
});

/// What a new password must be, checked where a password is chosen (registration, a
/// password change, a reset), never at login: an account whose password was set under
/// weaker rules must still be able to log in.
///
/// [`Policy::default`] is NIST SP 800-63B's (section 3.1.1.2):
///
/// - at least 8 characters, counted as Unicode code points (`"ééééééé"` is 7, though 14
///   bytes);
/// - at most 1024 bytes, the cap of the auth service's login (NIST asks that at least 64
///   characters be allowed: 1024 bytes hold 256 characters of any script);
/// - not in the list of common passwords, compared without case (the candidate is
///   lowercased) and without surrounding whitespace, as Django does. The list is Django's
///   (19,640 passwords, BSD-3-Clause).
///
/// No composition rules (NIST advises against them) and no Unicode normalisation: the
/// password is checked, and hashed, as given.
///
/// # Example
///
/// ```
/// use tower_jwt_auth::password::{Policy, PolicyError};
///
/// let policy = Policy::default();
/// assert_eq!(policy.check("correct horse battery"), Ok(()));
/// assert_eq!(policy.check("short"), Err(PolicyError::TooShort { min: 8 }));
/// assert_eq!(policy.check("Password1"), Err(PolicyError::Common));
/// assert_eq!(
///     policy.check("password").unwrap_err().to_string(),
///     "password is too common"
/// );
///
/// // Stricter length, no list.
/// let policy = Policy::default().min_chars(12).common_list(false);
/// assert_eq!(policy.check("password"), Err(PolicyError::TooShort { min: 12 }));
/// assert_eq!(policy.check("password1234"), Ok(()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a policy does nothing until a password is checked against it"]
pub struct Policy {
    min_chars: usize,
    max_bytes: usize,
    common_list: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::new()
    }
}

impl Policy {
    /// NIST's policy, the same as [`Policy::default`] (usable in a `const`).
    pub const fn new() -> Self {
        Policy {
            min_chars: 8,
            max_bytes: 1024,
            common_list: true,
        }
    }

    /// The fewest characters (Unicode code points) a password may have; 8 by default.
    pub const fn min_chars(mut self, min: usize) -> Self {
        self.min_chars = min;
        self
    }

    /// The most bytes (UTF-8) a password may have; 1024 by default. NIST asks for at least
    /// 64 characters: 256 bytes allow 64 of any script.
    pub const fn max_bytes(mut self, max: usize) -> Self {
        self.max_bytes = max;
        self
    }

    /// Whether passwords in the list of common passwords are refused; on by default.
    pub const fn common_list(mut self, on: bool) -> Self {
        self.common_list = on;
        self
    }

    /// Checks a new password: too long first (in bytes), then too short (in characters),
    /// then common. Allocates only to lowercase a password that has uppercase letters.
    pub fn check(&self, password: &str) -> Result<(), PolicyError> {
        if password.len() > self.max_bytes {
            return Err(PolicyError::TooLong {
                max: self.max_bytes,
            });
        }
        // Surrounding whitespace adds no strength: eight spaces, or a short word padded
        // with them, is too short.
        if password.trim().chars().take(self.min_chars).count() < self.min_chars {
            return Err(PolicyError::TooShort {
                min: self.min_chars,
            });
        }
        if self.common_list && is_common(password) {
            return Err(PolicyError::Common);
        }
        Ok(())
    }
}

/// Whether `password`, without surrounding whitespace and lowercased, is in the list.
fn is_common(password: &str) -> bool {
    let trimmed = password.trim();
    let lowered;
    let key = if trimmed.chars().all(lowercases_to_itself) {
        trimmed
    } else {
        lowered = trimmed.to_lowercase();
        lowered.as_str()
    };
    SORTED.binary_search(&key).is_ok()
}

fn lowercases_to_itself(c: char) -> bool {
    if c.is_ascii() {
        return !c.is_ascii_uppercase();
    }
    let mut lower = c.to_lowercase();
    lower.next() == Some(c) && lower.next().is_none()
}

/// Which rule of the [`Policy`] a password breaks. Its `Display` is a message for the
/// person choosing it, e.g. "password must be at least 8 characters".
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    /// Fewer characters (Unicode code points) than `min`.
    TooShort {
        /// The policy's [`Policy::min_chars`].
        min: usize,
    },
    /// More bytes than `max`.
    TooLong {
        /// The policy's [`Policy::max_bytes`].
        max: usize,
    },
    /// In the list of common passwords.
    Common,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::TooShort { min } => {
                write!(f, "password must be at least {min} characters")
            }
            PolicyError::TooLong { max } => write!(f, "password must be at most {max} bytes"),
            PolicyError::Common => f.write_str("password is too common"),
        }
    }
}

impl std::error::Error for PolicyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_is_djangos_lowercase_and_trimmed() {
        assert_eq!(COMMON.lines().count(), 19_640);
        for entry in COMMON.lines() {
            assert_eq!(entry, entry.to_lowercase(), "{entry}");
            assert_eq!(entry, entry.trim(), "{entry:?}");
            assert!(!entry.is_empty());
        }
        let mut sorted = SORTED.clone();
        sorted.dedup();
        assert_eq!(sorted.len(), 19_640, "no duplicates");
    }

    #[test]
    fn length_floor_counts_characters_not_bytes() {
        let policy = Policy::default();
        let seven = "ééééééé";
        assert_eq!((seven.chars().count(), seven.len()), (7, 14));
        assert_eq!(policy.check(seven), Err(PolicyError::TooShort { min: 8 }));
        assert_eq!(policy.check("éééééééé"), Ok(()));
        assert_eq!(
            policy.check("zq7#kx2"),
            Err(PolicyError::TooShort { min: 8 })
        );
        assert_eq!(policy.check("zq7#kx2!"), Ok(()));
        assert_eq!(policy.check(""), Err(PolicyError::TooShort { min: 8 }));
        // Surrounding whitespace does not count; inner spaces do (passphrases).
        for padded in ["        ", "  zq7#kx2  ", "\tzq7#kx2\n"] {
            assert_eq!(
                policy.check(padded),
                Err(PolicyError::TooShort { min: 8 }),
                "{padded:?}"
            );
        }
        assert_eq!(policy.check("zq7 #kx2"), Ok(()));
        let policy = policy.min_chars(12);
        assert_eq!(
            policy.check("zq7#kx2!abc"),
            Err(PolicyError::TooShort { min: 12 })
        );
        assert_eq!(policy.check("zq7#kx2!abcd"), Ok(()));
    }

    #[test]
    fn length_cap_counts_bytes() {
        let policy = Policy::default();
        assert_eq!(policy.check(&"a".repeat(1024)), Ok(()));
        assert_eq!(
            policy.check(&"a".repeat(1025)),
            Err(PolicyError::TooLong { max: 1024 })
        );
        // 512 characters, 1024 bytes; one more byte is too many.
        assert_eq!(policy.check(&"é".repeat(512)), Ok(()));
        assert_eq!(
            policy.check(&format!("{}a", "é".repeat(512))),
            Err(PolicyError::TooLong { max: 1024 })
        );
        // NIST's floor for the cap: 64 characters of four bytes each.
        assert_eq!(policy.check(&"😀".repeat(64)), Ok(()));
        let policy = policy.max_bytes(10);
        assert_eq!(policy.check("zq7#kx2!ab"), Ok(()));
        assert_eq!(
            policy.check("zq7#kx2!abc"),
            Err(PolicyError::TooLong { max: 10 })
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        let policy = Policy::default();
        for common in [
            "password",
            "12345678",
            "qwertyuiop",
            "iloveyou",
            "password1",
        ] {
            assert!(SORTED.binary_search(&common).is_ok(), "{common}");
            assert_eq!(policy.check(common), Err(PolicyError::Common), "{common}");
        }
        for variant in ["PassWord1", "PASSWORD1", " password1 ", "\tIloveYou\n"] {
            assert_eq!(policy.check(variant), Err(PolicyError::Common), "{variant}");
        }
        // Non-ASCII entries, lowercased as Unicode.
        let short = policy.min_chars(1);
        assert_eq!(short.check("ПАРОЛЬ"), Err(PolicyError::Common));
        assert_eq!(short.check("пароль"), Err(PolicyError::Common));
        // Off: only the lengths count.
        let off = policy.common_list(false);
        assert_eq!(off.check("password"), Ok(()));
        assert_eq!(off.check("pass"), Err(PolicyError::TooShort { min: 8 }));
    }

    #[test]
    fn passphrases_pass() {
        let policy = Policy::default();
        for phrase in [
            "correct horse battery",
            "correct horse battery staple",
            "Tr0ub4dor&3 is not it",
        ] {
            assert_eq!(policy.check(phrase), Ok(()), "{phrase}");
        }
        for _ in 0..20 {
            let random = uuid::Uuid::new_v4().to_string();
            assert_eq!(policy.check(&random), Ok(()), "{random}");
        }
        assert_eq!(Policy::new(), Policy::default());
    }

    #[test]
    fn messages_name_the_rule() {
        assert_eq!(
            PolicyError::TooShort { min: 8 }.to_string(),
            "password must be at least 8 characters"
        );
        assert_eq!(
            PolicyError::TooLong { max: 1024 }.to_string(),
            "password must be at most 1024 bytes"
        );
        assert_eq!(PolicyError::Common.to_string(), "password is too common");
    }

    #[test]
    fn lowercase_detection_matches_to_lowercase() {
        for s in [
            "abc",
            "ABC",
            "é",
            "É",
            "ǅ",
            "Σ",
            "ς",
            "İ",
            "ß",
            "😀",
            "пароль",
        ] {
            let same = s.chars().all(lowercases_to_itself);
            assert_eq!(same, s.to_lowercase() == s, "{s}");
        }
    }
}

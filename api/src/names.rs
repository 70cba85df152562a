//! The naming rules of registrations, written once. The spec's validation (`authdomain
//! validate`, the CRD's controller), the admin API and the portal all ask these, so a
//! manifest that validates is never refused at bootstrap because two copies drifted.

/// A scope token of RFC 6749 §3.3 (`NQCHAR`: printable ASCII except space, `"` and `\`).
/// What a token request may carry.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_nqchar)
}

/// Whether `c` is an RFC 6749 `NQCHAR` (%x21 / %x23-5B / %x5D-7E).
pub fn is_nqchar(c: char) -> bool {
    matches!(c as u32, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

/// A scope name defined by a resource server: a scope token of at most 128 characters
/// from A-Z a-z 0-9 and `- _ . : / + = , @ %` only. Narrower than RFC 6749 on purpose:
/// names end up in commands people paste (the portal's curl) and in logs, and quotes,
/// `;`, `$`, `` ` ``, `|`, `&`, `!` and the like have no business in a scope name.
pub fn is_scope_name(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '-' | '_' | '.' | ':' | '/' | '+' | '=' | ',' | '@' | '%')
        })
}

/// What a scope name must be, for error messages.
pub const SCOPE_NAME_RULE: &str = "1 to 128 characters A-Z a-z 0-9 - _ . : / + = , @ % (no quotes, spaces or shell metacharacters)";

/// A team name: 1 to 64 of a-z 0-9 - _ . (it becomes part of a scope name).
pub fn is_team(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// What a team name must be, for error messages.
pub const TEAM_RULE: &str = "1 to 64 characters a-z 0-9 - _ .";

/// The longest client id (in bytes; ids are ASCII). The token endpoint refuses a longer
/// claimed id before anything keeps or logs it.
pub const MAX_CLIENT_ID_LEN: usize = 128;

/// A client id chosen at registration: 3 to 128 of A-Z a-z 0-9 - _ . ~ (URL-safe, so it
/// needs no encoding in HTTP Basic, forms or paths).
pub fn is_client_id(s: &str) -> bool {
    (3..=MAX_CLIENT_ID_LEN).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
}

/// What a client id must be, for error messages.
pub const CLIENT_ID_RULE: &str = "3 to 128 characters A-Z a-z 0-9 - _ . ~";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        for ok in ["read", "orders:write", "a/b", "x!#$%&'()*+,-./"] {
            assert!(is_scope_token(ok), "{ok}");
        }
        for bad in ["", "a b", "a\"b", "a\\b", "é", "a\tb"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn scope_names_are_safe_to_paste() {
        for ok in [
            "read",
            "orders:write",
            "https://api.example.com/x.read",
            "a+b=c,d@e%f",
        ] {
            assert!(is_scope_name(ok), "{ok}");
        }
        for bad in [
            "",
            "a'b",
            "a;b",
            "$(id)",
            "`id`",
            "a|b",
            "a&b",
            "a!b",
            "a b",
            "é",
            &"x".repeat(129),
        ] {
            assert!(!is_scope_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn teams_and_client_ids() {
        assert!(is_team("payments-eu.1_a"));
        assert!(!is_team(""));
        assert!(!is_team("Payments"));
        assert!(!is_team(&"a".repeat(65)));
        assert!(is_client_id("orders-api~1.x"));
        assert!(!is_client_id("ab"));
        assert!(!is_client_id("a b c"));
        assert!(!is_client_id(&"a".repeat(129)));
    }
}

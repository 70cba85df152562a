//! Conditions, the Kubernetes way (pure): one per type, `lastTransitionTime` moves only
//! when the status flips, reasons are CamelCase words a program can act on.

use crate::crd::Condition;

pub const READY: &str = "Ready";
pub const SYNCED: &str = "Synced";
pub const DRIFTED: &str = "Drifted";
/// The condition types the operator owns; others' conditions are left to them.
pub const OURS: [&str; 3] = [READY, SYNCED, DRIFTED];

/// A condition's wanted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted<'a> {
    pub kind: &'a str,
    pub status: bool,
    pub reason: &'a str,
    pub message: String,
}

impl<'a> Wanted<'a> {
    pub fn yes(kind: &'a str, reason: &'a str, message: impl Into<String>) -> Wanted<'a> {
        Wanted {
            kind,
            status: true,
            reason,
            message: message.into(),
        }
    }
    pub fn no(kind: &'a str, reason: &'a str, message: impl Into<String>) -> Wanted<'a> {
        Wanted {
            kind,
            status: false,
            reason,
            message: message.into(),
        }
    }
}

/// Set a condition in `conditions`; `now` (RFC 3339) becomes its transition time only if
/// its status changes or it is new. Returns whether the status flipped (worth an event).
pub fn set(
    conditions: &mut Vec<Condition>,
    w: Wanted<'_>,
    generation: Option<i64>,
    now: &str,
) -> bool {
    let status = if w.status { "True" } else { "False" };
    match conditions.iter_mut().find(|c| c.kind == w.kind) {
        Some(c) => {
            let flipped = c.status != status;
            if flipped {
                c.last_transition_time = now.to_owned();
            }
            c.status = status.to_owned();
            c.reason = w.reason.to_owned();
            c.message = w.message;
            c.observed_generation = generation;
            flipped
        }
        None => {
            conditions.push(Condition {
                kind: w.kind.to_owned(),
                status: status.to_owned(),
                reason: w.reason.to_owned(),
                message: w.message,
                last_transition_time: now.to_owned(),
                observed_generation: generation,
            });
            // Conditions keep a stable order for readers and diffs.
            conditions.sort_by_key(|c| order(&c.kind));
            true
        }
    }
}

fn order(kind: &str) -> usize {
    [READY, SYNCED, DRIFTED]
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(usize::MAX)
}

pub fn is_true(conditions: &[Condition], kind: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.kind == kind && c.status == "True")
}

pub fn find<'a>(conditions: &'a [Condition], kind: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.kind == kind)
}

/// The current time, RFC 3339 (UTC, seconds).
pub fn now() -> String {
    let t = k8s_openapi::jiff::Timestamp::now();
    t.round(k8s_openapi::jiff::Unit::Second)
        .unwrap_or(t)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let mut c = Vec::new();
        assert!(set(
            &mut c,
            Wanted::no(READY, "Provisioning", "creating"),
            Some(1),
            "t1"
        ));
        assert!(!set(
            &mut c,
            Wanted::no(READY, "Provisioning", "still creating"),
            Some(1),
            "t2"
        ));
        assert_eq!(c[0].last_transition_time, "t1");
        assert_eq!(c[0].message, "still creating");
        assert!(set(
            &mut c,
            Wanted::yes(READY, "Ready", "issuer up"),
            Some(2),
            "t3"
        ));
        assert_eq!(c[0].last_transition_time, "t3");
        assert_eq!(c[0].observed_generation, Some(2));
        assert!(is_true(&c, READY));
    }

    #[test]
    fn conditions_are_one_per_type_in_a_stable_order() {
        let mut c = Vec::new();
        set(&mut c, Wanted::no(DRIFTED, "InSync", ""), None, "t");
        set(&mut c, Wanted::yes(SYNCED, "Applied", ""), None, "t");
        set(&mut c, Wanted::yes(READY, "Ready", ""), None, "t");
        set(&mut c, Wanted::yes(DRIFTED, "DriftDetected", ""), None, "t");
        let kinds: Vec<&str> = c.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, [READY, SYNCED, DRIFTED]);
        assert!(is_true(&c, DRIFTED));
    }

    #[test]
    fn now_is_rfc3339_utc() {
        let n = now();
        assert!(n.ends_with('Z') && n.contains('T'), "{n}");
    }
}

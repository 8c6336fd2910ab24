//! The decision per event (`collector/README.md`, Consent): KEEP, STRIP or DROP, from the
//! per-purpose grants the collector resolved and the site's [`Rules`].
//! Fail closed: a purpose is granted only when a source granted it.

use fiducia_proto::consent::{EventType, Purpose, PurposeSet};
use fiducia_proto::v1::Decision;

use super::rules::{Field, FieldSet, Rules};

/// Where a purpose's state came from, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Not a consent question (`necessary`).
    Exempt,
    /// The server-side ledger: a withdrawal or an erasure.
    Ledger,
    /// A valid (or invalid) TCF TC string, alone or inside a GPP string.
    Tcf,
    /// Global Privacy Control (`Sec-GPC: 1` or the tag's `gpc`).
    Gpc,
    /// Do Not Track, where the site honours it.
    Dnt,
    /// The tag's own state (its API, Consent Mode or a CMP adapter).
    Tag,
    /// No signal at all.
    None,
}

impl Source {
    /// Stable machine-readable name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Exempt => "exempt",
            Self::Ledger => "ledger",
            Self::Tcf => "tcf",
            Self::Gpc => "gpc",
            Self::Dnt => "dnt",
            Self::Tag => "tag",
            Self::None => "none",
        }
    }
}

/// Why a purpose is denied. Labels of the drop counters: a bounded set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DenyReason {
    /// No source said anything about the purpose.
    NotGiven,
    /// The visitor refused it.
    Denied,
    /// The ledger holds a withdrawal newer than any grant.
    Withdrawn,
    /// The subject's data was erased.
    Erased,
    /// The grant is older than the site's maximum consent age.
    Expired,
    /// A TC string was sent but is invalid, so it grants nothing.
    TcfInvalid,
    /// A valid TC string does not consent to every TCF purpose needed.
    TcfNotConsented,
    /// Global Privacy Control objects to it.
    Gpc,
    /// Do Not Track objects to it.
    Dnt,
    /// The grant names a notice version the site does not know.
    UnknownNotice,
}

impl DenyReason {
    /// Stable machine-readable name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotGiven => "not_given",
            Self::Denied => "denied",
            Self::Withdrawn => "withdrawn",
            Self::Erased => "erased",
            Self::Expired => "expired",
            Self::TcfInvalid => "tcf_invalid",
            Self::TcfNotConsented => "tcf_not_consented",
            Self::Gpc => "gpc",
            Self::Dnt => "dnt",
            Self::UnknownNotice => "unknown_notice",
        }
    }
}

/// One purpose's resolved state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// The deciding source.
    pub source: Source,
    /// `None` when granted, else why not.
    pub denied: Option<DenyReason>,
}

impl Grant {
    /// Granted by `source`.
    #[must_use]
    pub const fn granted(source: Source) -> Self {
        Self {
            source,
            denied: None,
        }
    }

    /// Denied by `source` for `reason`.
    #[must_use]
    pub const fn denied(source: Source, reason: DenyReason) -> Self {
        Self {
            source,
            denied: Some(reason),
        }
    }

    /// Whether the purpose may be used.
    #[must_use]
    pub const fn is_granted(self) -> bool {
        self.denied.is_none()
    }
}

/// Every purpose's resolved state for one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    by_purpose: [Grant; Purpose::ALL.len()],
    /// An objection stands (a ledger withdrawal or erasure, GPC, or DNT
    /// where honoured): no anonymous measurement either.
    pub objected: bool,
}

impl Default for Grants {
    /// Nothing granted but `necessary`.
    fn default() -> Self {
        let mut by_purpose = [Grant::denied(Source::None, DenyReason::NotGiven); 5];
        by_purpose[Purpose::Necessary as usize] = Grant::granted(Source::Exempt);
        Self {
            by_purpose,
            objected: false,
        }
    }
}

impl Grants {
    /// A purpose's state.
    #[must_use]
    pub fn get(&self, purpose: Purpose) -> Grant {
        self.by_purpose[purpose as usize]
    }

    /// Sets a consentable purpose's state; `necessary` stays exempt.
    pub fn set(&mut self, purpose: Purpose, grant: Grant) {
        if purpose != Purpose::Necessary {
            self.by_purpose[purpose as usize] = grant;
        }
    }

    /// The granted purposes (`necessary` among them).
    #[must_use]
    pub fn granted(&self) -> PurposeSet {
        Purpose::ALL
            .into_iter()
            .filter(|&p| self.get(p).is_granted())
            .collect()
    }
}

/// Why an event was dropped: the first purpose it needs that is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DropReason {
    /// The denied purpose.
    pub purpose: Purpose,
    /// Why it is denied.
    pub reason: DenyReason,
}

/// The gate's answer for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every purpose the event needs is granted; these fields go.
    Keep {
        /// Fields whose own purposes are not granted.
        removed: FieldSet,
    },
    /// Anonymous measurement: no identifiers, coarse context.
    Strip,
    /// Never published; counted by reason.
    Drop(DropReason),
}

impl Verdict {
    /// The decision marker of a published event; `None` for a drop.
    #[must_use]
    pub const fn decision(self) -> Option<Decision> {
        match self {
            Self::Keep { .. } => Some(Decision::Keep),
            Self::Strip => Some(Decision::Strip),
            Self::Drop(_) => None,
        }
    }

    /// Fields a published event must not carry.
    #[must_use]
    pub fn removed_fields(self) -> FieldSet {
        match self {
            Self::Keep { removed } => removed,
            Self::Strip => Field::identifying(),
            Self::Drop(_) => Field::ALL.into_iter().collect(),
        }
    }
}

/// Decides one event of type `kind` under `grants` and the site's `rules`.
#[must_use]
pub fn decide(rules: &Rules, kind: EventType, grants: &Grants) -> Verdict {
    let needs = rules.needs(kind);
    let granted = grants.granted();
    if let Some(purpose) = needs.difference(granted).iter().next() {
        let only_measurement =
            needs.without(Purpose::Necessary) == PurposeSet::of(&[Purpose::Measurement]);
        if rules.anonymous_measurement && only_measurement && !grants.objected {
            return Verdict::Strip;
        }
        return Verdict::Drop(DropReason {
            purpose,
            reason: grants.get(purpose).denied.unwrap_or(DenyReason::NotGiven),
        });
    }
    let removed = Field::ALL
        .into_iter()
        .filter(|&f| !rules.field_needs(f).is_subset(granted))
        .collect();
    Verdict::Keep { removed }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(granted: &[Purpose]) -> Grants {
        let mut grants = Grants::default();
        for &p in granted {
            grants.set(p, Grant::granted(Source::Tag));
        }
        grants
    }

    #[test]
    fn an_event_is_kept_only_when_every_purpose_it_needs_is_granted() {
        let rules = Rules::default();
        let m = Purpose::Measurement;
        let p = Purpose::Personalization;
        for (kind, granted, kept) in [
            (EventType::PageView, vec![m], true),
            (EventType::PageView, vec![p], false),
            (EventType::PageView, vec![], false),
            (EventType::Identify, vec![m], false),
            (EventType::Identify, vec![m, p], true),
            (EventType::Consent, vec![], true),
        ] {
            let verdict = decide(&rules, kind, &grants(&granted));
            assert_eq!(
                matches!(verdict, Verdict::Keep { .. }),
                kept,
                "{kind:?} {granted:?}"
            );
        }
    }

    #[test]
    fn fields_whose_purpose_is_not_granted_are_removed() {
        let rules = Rules::default();
        let verdict = decide(&rules, EventType::Click, &grants(&[Purpose::Measurement]));
        assert_eq!(
            verdict,
            Verdict::Keep {
                removed: FieldSet::of(&[Field::UserId])
            }
        );
        let verdict = decide(
            &rules,
            EventType::Click,
            &grants(&[Purpose::Measurement, Purpose::Personalization]),
        );
        assert_eq!(verdict.removed_fields(), FieldSet::EMPTY);
    }

    #[test]
    fn a_drop_names_the_first_missing_purpose_and_its_reason() {
        let mut g = grants(&[Purpose::Measurement]);
        g.set(
            Purpose::Personalization,
            Grant::denied(Source::Gpc, DenyReason::Gpc),
        );
        assert_eq!(
            decide(&Rules::default(), EventType::Identify, &g),
            Verdict::Drop(DropReason {
                purpose: Purpose::Personalization,
                reason: DenyReason::Gpc
            })
        );
    }

    #[test]
    fn strip_only_where_the_site_allows_it_and_nobody_objected() {
        let strict = Rules::default();
        let mut lenient = Rules::default();
        lenient.anonymous_measurement = true;
        let nothing = Grants::default();
        assert!(matches!(
            decide(&strict, EventType::PageView, &nothing),
            Verdict::Drop(_)
        ));
        assert_eq!(
            decide(&lenient, EventType::PageView, &nothing),
            Verdict::Strip
        );
        assert_eq!(Verdict::Strip.removed_fields(), Field::identifying());
        // identify needs personalization: never anonymous.
        assert!(matches!(
            decide(&lenient, EventType::Identify, &nothing),
            Verdict::Drop(_)
        ));
        let objected = Grants {
            objected: true,
            ..Grants::default()
        };
        assert!(matches!(
            decide(&lenient, EventType::PageView, &objected),
            Verdict::Drop(_)
        ));
    }

    #[test]
    fn necessary_cannot_be_denied() {
        let mut g = Grants::default();
        g.set(
            Purpose::Necessary,
            Grant::denied(Source::Ledger, DenyReason::Erased),
        );
        assert!(g.get(Purpose::Necessary).is_granted());
        assert_eq!(g.granted(), PurposeSet::of(&[Purpose::Necessary]));
    }
}

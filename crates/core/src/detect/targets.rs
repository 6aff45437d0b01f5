//! Security-profile targets (service-side.md §1.7), as pure functions over plain values.
//!
//! The registry (things, groups, attachments) lives in the store; resolution is kept here,
//! away from IO, so the rules "a group covers its descendants" and "unregistered things only
//! match `all/things` and `all/unregistered-things`" are tested once and reused by ingest, the
//! API and the silent sweep alike.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Each target can have at most this many security profiles attached (§1.7); one more is
/// `LimitExceeded`.
pub const MAX_PROFILES_PER_TARGET: usize = 5;

/// Longest thing group name AWS accepts, so a target never names a group that cannot exist.
const MAX_GROUP_NAME: usize = 128;

/// What a security profile is attached to, parsed from its target ARN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// `…:thinggroup/<name>`: the group's things and those of its descendant groups.
    ThingGroup(String),
    /// `…:all/things`: every device, registered or not.
    AllThings,
    /// `…:all/registered-things`: every thing in the registry.
    RegisteredThings,
    /// `…:all/unregistered-things`: clients connected without a registered thing.
    UnregisteredThings,
}

/// Why a target was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The ARN is not one of the four target forms; AWS answers `InvalidRequestException`.
    #[error("invalid security profile target ARN: {arn:?}")]
    InvalidArn {
        /// The ARN as given.
        arn: String,
    },
    /// The target already has [`MAX_PROFILES_PER_TARGET`] profiles (`LimitExceeded`, HTTP 410).
    #[error("a target can have at most {limit} security profiles attached")]
    LimitExceeded {
        /// The limit.
        limit: usize,
    },
}

impl Target {
    /// Parses `arn:aws:iot:<region>:<account>:<resource>`. Region and account are not
    /// checked against the server's own: a single-tenant server answers for one account, and
    /// rejecting a script's ARN over its region would break wire compatibility for nothing.
    pub fn parse(arn: &str) -> Result<Target, TargetError> {
        let invalid = || TargetError::InvalidArn { arn: arn.into() };
        let mut parts = arn.splitn(6, ':');
        let (Some("arn"), Some("aws"), Some("iot"), Some(region), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(invalid());
        };
        if region.is_empty() || account.is_empty() {
            return Err(invalid());
        }
        match resource {
            "all/things" => Ok(Target::AllThings),
            "all/registered-things" => Ok(Target::RegisteredThings),
            "all/unregistered-things" => Ok(Target::UnregisteredThings),
            _ => match resource.strip_prefix("thinggroup/") {
                Some(name) if valid_group_name(name) => Ok(Target::ThingGroup(name.into())),
                _ => Err(invalid()),
            },
        }
    }

    /// Whether the target covers a thing whose registration and covering groups (direct and
    /// ancestors) are known.
    fn covers(&self, registered: bool, groups: &BTreeSet<String>) -> bool {
        match self {
            Target::AllThings => true,
            Target::RegisteredThings => registered,
            Target::UnregisteredThings => !registered,
            Target::ThingGroup(g) => registered && groups.contains(g),
        }
    }
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Target, TargetError> {
        Target::parse(s)
    }
}

impl fmt::Display for Target {
    /// The resource part of the ARN; the caller owns region and account.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::ThingGroup(g) => write!(f, "thinggroup/{g}"),
            Target::AllThings => f.write_str("all/things"),
            Target::RegisteredThings => f.write_str("all/registered-things"),
            Target::UnregisteredThings => f.write_str("all/unregistered-things"),
        }
    }
}

/// AWS's thing group name rule: `[a-zA-Z0-9:_-]+`, at most 128 characters.
fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_GROUP_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// What target resolution needs to know about a thing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ThingFacts {
    /// Whether the thing is in the registry; an unregistered client has no groups.
    pub registered: bool,
    /// The groups the thing was added to directly.
    pub groups: Vec<String>,
}

/// The profiles attached to a target that covers `thing`, in attachment order, each once.
///
/// `group_parents` answers a group's parent; the walk from the thing's direct groups up to
/// the roots stops at a group already seen, so a corrupt (cyclic) hierarchy cannot loop.
/// An unregistered thing's groups are ignored: only `all/things` and
/// `all/unregistered-things` reach it.
pub fn profiles_for_thing<'a>(
    thing: &ThingFacts,
    attachments: &'a [(String, Target)],
    group_parents: &dyn Fn(&str) -> Option<String>,
) -> Vec<&'a str> {
    let mut covering = BTreeSet::new();
    if thing.registered {
        for direct in &thing.groups {
            let mut next = Some(direct.clone());
            while let Some(group) = next {
                if covering.contains(&group) {
                    break;
                }
                next = group_parents(&group);
                covering.insert(group);
            }
        }
    }
    let mut profiles: Vec<&'a str> = Vec::new();
    for (profile, target) in attachments {
        if target.covers(thing.registered, &covering) && !profiles.contains(&profile.as_str()) {
            profiles.push(profile);
        }
    }
    profiles
}

/// Checks that one more profile may be attached to a target that already has
/// `existing_for_target` (§1.7: at most five).
pub fn check_attach_limit(existing_for_target: usize) -> Result<(), TargetError> {
    if existing_for_target >= MAX_PROFILES_PER_TARGET {
        Err(TargetError::LimitExceeded {
            limit: MAX_PROFILES_PER_TARGET,
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const P: &str = "arn:aws:iot:eu-west-1:123456789012:";

    #[test]
    fn parses_the_four_target_forms() {
        assert_eq!(
            Target::parse(&format!("{P}thinggroup/cameras")),
            Ok(Target::ThingGroup("cameras".into()))
        );
        assert_eq!(
            Target::parse(&format!("{P}thinggroup/a:b_c-1")),
            Ok(Target::ThingGroup("a:b_c-1".into()))
        );
        assert_eq!(format!("{P}all/things").parse(), Ok(Target::AllThings));
        assert_eq!(
            Target::parse(&format!("{P}all/registered-things")),
            Ok(Target::RegisteredThings)
        );
        assert_eq!(
            Target::parse(&format!("{P}all/unregistered-things")),
            Ok(Target::UnregisteredThings)
        );
        assert_eq!(Target::ThingGroup("g".into()).to_string(), "thinggroup/g");
    }

    #[test]
    fn rejects_other_arns_naming_them() {
        let too_long = format!("{P}thinggroup/{}", "g".repeat(129));
        for bad in [
            "",
            "all/things",
            "arn:aws:iot:eu-west-1:123456789012",
            "arn:aws:s3:eu-west-1:123456789012:all/things",
            "arn:aws:iot::123456789012:all/things",
            "arn:aws:iot:eu-west-1::all/things",
            "arn:aws:iot:eu-west-1:123456789012:all/groups",
            "arn:aws:iot:eu-west-1:123456789012:thing/t1",
            "arn:aws:iot:eu-west-1:123456789012:thinggroup/",
            "arn:aws:iot:eu-west-1:123456789012:thinggroup/a/b",
            too_long.as_str(),
        ] {
            let err = Target::parse(bad).unwrap_err();
            assert_eq!(err, TargetError::InvalidArn { arn: bad.into() });
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
    }

    fn attachments() -> Vec<(String, Target)> {
        vec![
            ("everyone".into(), Target::AllThings),
            ("registered".into(), Target::RegisteredThings),
            ("strangers".into(), Target::UnregisteredThings),
            ("root".into(), Target::ThingGroup("root".into())),
            ("mid".into(), Target::ThingGroup("mid".into())),
            ("leaf".into(), Target::ThingGroup("leaf".into())),
            ("other".into(), Target::ThingGroup("other".into())),
            // Attached twice through different targets: listed once.
            ("everyone".into(), Target::ThingGroup("leaf".into())),
        ]
    }

    fn tree() -> BTreeMap<String, String> {
        // leaf → mid → root; a → b → a is a cycle.
        [("leaf", "mid"), ("mid", "root"), ("a", "b"), ("b", "a")]
            .into_iter()
            .map(|(c, p)| (c.to_string(), p.to_string()))
            .collect()
    }

    fn resolve(registered: bool, groups: &[&str]) -> Vec<String> {
        let tree = tree();
        let parents = |g: &str| tree.get(g).cloned();
        let facts = ThingFacts {
            registered,
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        let a = attachments();
        profiles_for_thing(&facts, &a, &parents)
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_group_covers_its_descendants() {
        assert_eq!(
            resolve(true, &["leaf"]),
            ["everyone", "registered", "root", "mid", "leaf"]
        );
        assert_eq!(
            resolve(true, &["mid"]),
            ["everyone", "registered", "root", "mid"]
        );
        assert_eq!(
            resolve(true, &["other", "root"]),
            ["everyone", "registered", "root", "other"]
        );
        assert_eq!(resolve(true, &[]), ["everyone", "registered"]);
    }

    #[test]
    fn a_cyclic_hierarchy_terminates() {
        assert_eq!(resolve(true, &["a"]), ["everyone", "registered"]);
        assert_eq!(
            resolve(true, &["b", "leaf"]),
            ["everyone", "registered", "root", "mid", "leaf"]
        );
    }

    #[test]
    fn unregistered_things_match_only_all_and_unregistered() {
        assert_eq!(resolve(false, &[]), ["everyone", "strangers"]);
        // Even if the caller passes groups, an unregistered client is in none.
        assert_eq!(resolve(false, &["leaf"]), ["everyone", "strangers"]);
    }

    #[test]
    fn at_most_five_profiles_per_target() {
        for n in 0..MAX_PROFILES_PER_TARGET {
            assert_eq!(check_attach_limit(n), Ok(()));
        }
        assert_eq!(
            check_attach_limit(5),
            Err(TargetError::LimitExceeded { limit: 5 })
        );
        assert!(check_attach_limit(9).is_err());
    }
}

use super::*;

const PREFIX: &str = fleetward_proto::topic::DEFAULT_PREFIX;

fn arns() -> Arns {
    Arns::new("us-east-1", "123456789012")
}

fn doc(json: &str) -> PolicyDocument {
    match PolicyDocument::parse(json) {
        Ok(d) => d,
        Err(e) => panic!("policy should parse: {e}\n{json}"),
    }
}

/// A one-statement document.
fn stmt(effect: &str, action: Value, resource: Value) -> PolicyDocument {
    doc(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": { "Effect": effect, "Action": action, "Resource": resource }
    })
    .to_string())
}

fn vars<'a>(client_id: &'a str, thing: Option<&'a str>) -> Vars<'a> {
    Vars {
        client_id,
        thing_name: thing,
    }
}

fn decide(docs: &[PolicyDocument], action: Action, resource: &str, v: Vars<'_>) -> Decision {
    evaluate(docs, &Request { action, resource }, &v)
}

fn parse_err(json: &str) -> String {
    match PolicyDocument::parse(json) {
        Ok(_) => panic!("policy should be rejected: {json}"),
        Err(e) => e.to_string(),
    }
}

const T1: Option<&str> = Some("thing-1");

// --- matching ------------------------------------------------------------------------------

#[test]
fn glob_star_and_question() {
    let g =
        |p: &str, t: &str| glob_match(&literal_pattern(p), &t.chars().collect::<Vec<_>>(), false);
    assert!(g("*", ""));
    assert!(g("*", "anything/at/all"));
    assert!(g("a*", "a"));
    assert!(g("a*c", "abbbc"));
    assert!(g("a*b*c", "a-b-b-c"));
    assert!(!g("a*c", "abbbd"));
    assert!(g("a?c", "abc"));
    assert!(!g("a?c", "ac"));
    assert!(!g("a?c", "abbc"));
    assert!(g("??", "é!"), "? is one character, not one byte");
    assert!(!g("abc", "abcd"));
    assert!(!g("abcd", "abc"));
    assert!(g("*/*/*", "a/b/c"));
    assert!(g("a**b", "ab"));
}

#[test]
fn wildcard_in_resource_spans_topic_levels() {
    let a = arns();
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:us-east-1:123456789012:topic/sensors/*".into(),
    )];
    let v = vars("c", T1);
    assert_eq!(
        decide(&d, Action::Publish, &a.topic("sensors/x"), v),
        Decision::Allow
    );
    assert_eq!(
        decide(&d, Action::Publish, &a.topic("sensors/x/y/z"), v),
        Decision::Allow
    );
    assert_eq!(
        decide(&d, Action::Publish, &a.topic("sensor"), v),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&d, Action::Publish, &a.topic("other/x"), v),
        Decision::ImplicitDeny
    );
    // Account and region are part of the match.
    let other = Arns::new("eu-west-1", "123456789012");
    assert_eq!(
        decide(&d, Action::Publish, &other.topic("sensors/x"), v),
        Decision::ImplicitDeny
    );
}

#[test]
fn question_mark_in_resource() {
    let a = arns();
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/room-?".into(),
    )];
    let v = vars("c", T1);
    assert!(decide(&d, Action::Publish, &a.topic("room-1"), v).is_allowed());
    assert!(!decide(&d, Action::Publish, &a.topic("room-10"), v).is_allowed());
    assert!(!decide(&d, Action::Publish, &a.topic("room-"), v).is_allowed());
}

#[test]
fn mqtt_wildcards_are_literal_in_policies() {
    let a = arns();
    let d = [stmt(
        "Allow",
        "iot:Subscribe".into(),
        "arn:aws:iot:*:*:topicfilter/a/+/c".into(),
    )];
    let v = vars("c", T1);
    assert!(decide(&d, Action::Subscribe, &a.topic_filter("a/+/c"), v).is_allowed());
    assert!(!decide(&d, Action::Subscribe, &a.topic_filter("a/b/c"), v).is_allowed());
}

#[test]
fn star_resource_matches_every_arn() {
    let a = arns();
    let d = [stmt("Allow", "iot:*".into(), "*".into())];
    let v = vars("c", None);
    for action in [
        Action::Connect,
        Action::Publish,
        Action::Subscribe,
        Action::Receive,
    ] {
        assert_eq!(
            decide(&d, action, &a.topic("x"), v),
            Decision::Allow,
            "{action:?}"
        );
    }
    assert!(decide(&d, Action::Connect, &a.client("x"), v).is_allowed());
}

#[test]
fn arn_wildcards_stay_inside_their_segment() {
    // With whole-string matching, `*` in the region could swallow
    // `us-east-1:123456789012:topic/$aws/things/OTHER/x` and let thing-1 publish under
    // another thing's topic tree.
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/defender/metrics/json"
            .into(),
    )];
    let evil =
        arns().topic("$aws/things/OTHER/x:y:topic/$aws/things/thing-1/defender/metrics/json");
    assert_eq!(
        decide(&d, Action::Publish, &evil, vars("c", T1)),
        Decision::ImplicitDeny
    );
    let own = arns().topic("$aws/things/thing-1/defender/metrics/json");
    assert_eq!(
        decide(&d, Action::Publish, &own, vars("c", T1)),
        Decision::Allow
    );
    // A topic may itself contain colons: only the first five split the ARN.
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/a:b/*".into(),
    )];
    assert!(decide(&d, Action::Publish, &arns().topic("a:b/c:d"), vars("c", T1)).is_allowed());
}

#[test]
fn non_arn_request_does_not_match_arn_pattern() {
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/*".into(),
    )];
    assert_eq!(
        decide(&d, Action::Publish, "topic/x", vars("c", T1)),
        Decision::ImplicitDeny
    );
}

// --- actions -------------------------------------------------------------------------------

#[test]
fn action_string_vs_list() {
    let a = arns();
    let v = vars("c", T1);
    let one = [stmt("Allow", "iot:Publish".into(), "*".into())];
    assert!(decide(&one, Action::Publish, &a.topic("t"), v).is_allowed());
    assert!(!decide(&one, Action::Receive, &a.topic("t"), v).is_allowed());
    let list = [stmt(
        "Allow",
        serde_json::json!(["iot:Publish", "iot:Receive"]),
        "*".into(),
    )];
    assert!(decide(&list, Action::Publish, &a.topic("t"), v).is_allowed());
    assert!(decide(&list, Action::Receive, &a.topic("t"), v).is_allowed());
    assert!(!decide(&list, Action::Subscribe, &a.topic_filter("t"), v).is_allowed());
}

#[test]
fn action_wildcards_and_case() {
    let a = arns();
    let v = vars("c", T1);
    let pubs = [stmt("Allow", "iot:Pub*".into(), "*".into())];
    assert!(decide(&pubs, Action::Publish, &a.topic("t"), v).is_allowed());
    assert!(!decide(&pubs, Action::Receive, &a.topic("t"), v).is_allowed());
    let q = [stmt("Allow", "iot:?eceive".into(), "*".into())];
    assert!(decide(&q, Action::Receive, &a.topic("t"), v).is_allowed());
    let all = [stmt("Allow", "*".into(), "*".into())];
    assert!(decide(&all, Action::Subscribe, &a.topic_filter("t"), v).is_allowed());
    let lower = [stmt("Allow", "IOT:publish".into(), "*".into())];
    assert!(decide(&lower, Action::Publish, &a.topic("t"), v).is_allowed());
    let other_service = [stmt("Allow", "s3:*".into(), "*".into())];
    assert!(!decide(&other_service, Action::Publish, &a.topic("t"), v).is_allowed());
    let shadow = [stmt("Allow", "iot:UpdateThingShadow".into(), "*".into())];
    assert!(!decide(&shadow, Action::Publish, &a.topic("t"), v).is_allowed());
}

#[test]
fn resource_string_vs_list() {
    let a = arns();
    let v = vars("c", T1);
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        serde_json::json!(["arn:aws:iot:*:*:topic/a", "arn:aws:iot:*:*:topic/b"]),
    )];
    assert!(decide(&d, Action::Publish, &a.topic("a"), v).is_allowed());
    assert!(decide(&d, Action::Publish, &a.topic("b"), v).is_allowed());
    assert!(!decide(&d, Action::Publish, &a.topic("c"), v).is_allowed());
}

// --- decisions -----------------------------------------------------------------------------

#[test]
fn explicit_deny_beats_allow_in_any_order_and_document() {
    let a = arns();
    let v = vars("c", T1);
    let allow = stmt("Allow", "iot:*".into(), "*".into());
    let deny = stmt(
        "Deny",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/secret/*".into(),
    );
    for docs in [[allow.clone(), deny.clone()], [deny.clone(), allow.clone()]] {
        assert_eq!(
            decide(&docs, Action::Publish, &a.topic("secret/x"), v),
            Decision::ExplicitDeny
        );
        assert_eq!(
            decide(&docs, Action::Publish, &a.topic("public/x"), v),
            Decision::Allow
        );
        assert_eq!(
            decide(&docs, Action::Receive, &a.topic("secret/x"), v),
            Decision::Allow
        );
    }
    let same_doc = doc(r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Deny","Action":"iot:Publish","Resource":"*"},
        {"Effect":"Allow","Action":"iot:Publish","Resource":"*"}]}"#);
    assert_eq!(
        decide(&[same_doc], Action::Publish, &a.topic("x"), v),
        Decision::ExplicitDeny
    );
}

#[test]
fn deny_alone_is_explicit_and_nothing_is_implicit() {
    let a = arns();
    let v = vars("c", T1);
    let deny = [stmt("Deny", "iot:*".into(), "*".into())];
    assert_eq!(
        decide(&deny, Action::Connect, &a.client("c"), v),
        Decision::ExplicitDeny
    );
    assert_eq!(
        decide(&[], Action::Connect, &a.client("c"), v),
        Decision::ImplicitDeny
    );
    let empty = doc(r#"{"Version":"2012-10-17","Statement":[]}"#);
    assert_eq!(
        decide(&[empty], Action::Connect, &a.client("c"), v),
        Decision::ImplicitDeny
    );
    assert!(!Decision::ExplicitDeny.is_allowed());
    assert!(!Decision::ImplicitDeny.is_allowed());
}

// --- variables -----------------------------------------------------------------------------

#[test]
fn thing_name_and_client_id_variables() {
    let a = arns();
    let d = [doc(r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:*:*:client/${iot:ClientId}"},
        {"Effect":"Allow","Action":"iot:Publish","Resource":"arn:aws:iot:*:*:topic/t/${iot:Connection.Thing.ThingName}/c/${iot:ClientId}"}]}"#)];
    let v = vars("client-7", T1);
    assert!(decide(&d, Action::Connect, &a.client("client-7"), v).is_allowed());
    assert!(decide(&d, Action::Publish, &a.topic("t/thing-1/c/client-7"), v).is_allowed());
    assert!(!decide(&d, Action::Publish, &a.topic("t/thing-2/c/client-7"), v).is_allowed());
    assert!(!decide(&d, Action::Publish, &a.topic("t/thing-1/c/client-8"), v).is_allowed());
}

#[test]
fn variable_names_are_case_insensitive() {
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/${IOT:clientid}".into(),
    )];
    assert!(decide(&d, Action::Publish, &arns().topic("c1"), vars("c1", None)).is_allowed());
}

#[test]
fn substituted_values_are_literal() {
    // A client id of `*` must not turn `client/${iot:ClientId}` into `client/*`.
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/c/${iot:ClientId}".into(),
    )];
    assert!(
        !decide(
            &d,
            Action::Publish,
            &arns().topic("c/anyone"),
            vars("*", T1)
        )
        .is_allowed()
    );
    assert!(!decide(&d, Action::Publish, &arns().topic("c/x"), vars("?", T1)).is_allowed());
    assert!(decide(&d, Action::Publish, &arns().topic("c/*"), vars("*", T1)).is_allowed());
}

#[test]
fn escape_variables_are_literal() {
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/a${*}b${?}c${$}d".into(),
    )];
    let v = vars("c", T1);
    assert!(decide(&d, Action::Publish, &arns().topic("a*b?c$d"), v).is_allowed());
    assert!(!decide(&d, Action::Publish, &arns().topic("aXXb?c$d"), v).is_allowed());
    assert!(!decide(&d, Action::Publish, &arns().topic("a*bXc$d"), v).is_allowed());
}

#[test]
fn unterminated_variable_is_literal_text() {
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/a${b".into(),
    )];
    assert!(decide(&d, Action::Publish, &arns().topic("a${b"), vars("c", T1)).is_allowed());
}

#[test]
fn unresolvable_variable_makes_the_entry_not_match() {
    let a = arns();
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        serde_json::json!([
            "arn:aws:iot:*:*:topic/things/${iot:Connection.Thing.ThingName}",
            "arn:aws:iot:*:*:topic/attr/${iot:Connection.Thing.Attributes[x]}",
            "arn:aws:iot:*:*:topic/plain"
        ]),
    )];
    // No thing attached: the thing-name entry cannot match anything, not even the empty name.
    let none = vars("c", None);
    assert!(!decide(&d, Action::Publish, &a.topic("things/"), none).is_allowed());
    assert!(
        !decide(
            &d,
            Action::Publish,
            &a.topic("things/${iot:Connection.Thing.ThingName}"),
            none
        )
        .is_allowed()
    );
    // A variable this evaluator does not know never resolves.
    assert!(!decide(&d, Action::Publish, &a.topic("attr/"), vars("c", T1)).is_allowed());
    // The statement's other entries still count.
    assert!(decide(&d, Action::Publish, &a.topic("plain"), none).is_allowed());
    assert!(
        decide(
            &d,
            Action::Publish,
            &a.topic("things/thing-1"),
            vars("c", T1)
        )
        .is_allowed()
    );
}

#[test]
fn unresolvable_variable_in_deny_does_not_deny() {
    // AWS semantics: a Deny scoped by the thing name says nothing about thing-less connections.
    let a = arns();
    let docs = [
        stmt("Allow", "iot:Publish".into(), "*".into()),
        stmt(
            "Deny",
            "iot:Publish".into(),
            "arn:aws:iot:*:*:topic/${iot:Connection.Thing.ThingName}/*".into(),
        ),
    ];
    assert_eq!(
        decide(&docs, Action::Publish, &a.topic("x/y"), vars("c", None)),
        Decision::Allow
    );
    assert_eq!(
        decide(
            &docs,
            Action::Publish,
            &a.topic("x/y"),
            vars("c", Some("x"))
        ),
        Decision::ExplicitDeny
    );
}

#[test]
fn is_attached_variable() {
    let d = [stmt(
        "Allow",
        "iot:Publish".into(),
        "arn:aws:iot:*:*:topic/attached/${iot:Connection.Thing.IsAttached}".into(),
    )];
    assert!(
        decide(
            &d,
            Action::Publish,
            &arns().topic("attached/true"),
            vars("c", T1)
        )
        .is_allowed()
    );
    assert!(
        decide(
            &d,
            Action::Publish,
            &arns().topic("attached/false"),
            vars("c", None)
        )
        .is_allowed()
    );
    assert!(
        !decide(
            &d,
            Action::Publish,
            &arns().topic("attached/true"),
            vars("c", None)
        )
        .is_allowed()
    );
}

// --- conditions ----------------------------------------------------------------------------

#[test]
fn bool_is_attached_condition() {
    let d = [doc(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect",
        "Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":["true"]}}}}"#,
    )];
    let c = arns().client("c");
    assert!(decide(&d, Action::Connect, &c, vars("c", T1)).is_allowed());
    assert!(!decide(&d, Action::Connect, &c, vars("c", None)).is_allowed());
    let json_bool = [doc(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect",
        "Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":true}}}}"#,
    )];
    assert!(decide(&json_bool, Action::Connect, &c, vars("c", T1)).is_allowed());
}

#[test]
fn string_conditions() {
    let c = arns().client("c");
    let mk = |op: &str, key: &str, val: Value| {
        [doc(
            &serde_json::json!({"Version":"2012-10-17","Statement":{"Effect":"Allow",
            "Action":"iot:Connect","Resource":"*","Condition":{op:{key: val}}}})
            .to_string(),
        )]
    };
    let eq = mk(
        "StringEquals",
        "iot:ClientId",
        "${iot:Connection.Thing.ThingName}".into(),
    );
    assert!(decide(&eq, Action::Connect, &c, vars("thing-1", T1)).is_allowed());
    assert!(!decide(&eq, Action::Connect, &c, vars("other", T1)).is_allowed());
    assert!(!decide(&eq, Action::Connect, &c, vars("thing-1", None)).is_allowed());

    let star_literal = mk("StringEquals", "iot:ClientId", "dev-*".into());
    assert!(!decide(&star_literal, Action::Connect, &c, vars("dev-1", T1)).is_allowed());
    assert!(decide(&star_literal, Action::Connect, &c, vars("dev-*", T1)).is_allowed());

    let like = mk(
        "StringLike",
        "iot:ClientId",
        serde_json::json!(["dev-*", "lab-?"]),
    );
    assert!(decide(&like, Action::Connect, &c, vars("dev-1", T1)).is_allowed());
    assert!(decide(&like, Action::Connect, &c, vars("lab-2", T1)).is_allowed());
    assert!(!decide(&like, Action::Connect, &c, vars("lab-22", T1)).is_allowed());

    let not_like = mk(
        "StringNotLike",
        "iot:Connection.Thing.ThingName",
        "test-*".into(),
    );
    assert!(decide(&not_like, Action::Connect, &c, vars("c", T1)).is_allowed());
    assert!(!decide(&not_like, Action::Connect, &c, vars("c", Some("test-9"))).is_allowed());
    // Absent key: negated operators hold, as in IAM.
    assert!(decide(&not_like, Action::Connect, &c, vars("c", None)).is_allowed());

    let not_eq = mk(
        "StringNotEquals",
        "iot:ClientId",
        serde_json::json!(["a", "b"]),
    );
    assert!(!decide(&not_eq, Action::Connect, &c, vars("a", T1)).is_allowed());
    assert!(decide(&not_eq, Action::Connect, &c, vars("z", T1)).is_allowed());
}

#[test]
fn conditions_combine_with_and() {
    let d = [doc(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Connect",
        "Resource":"*","Condition":{
            "Bool":{"iot:Connection.Thing.IsAttached":"true"},
            "StringLike":{"iot:ClientId":"dev-*"}}}}"#,
    )];
    let c = arns().client("x");
    assert!(decide(&d, Action::Connect, &c, vars("dev-1", T1)).is_allowed());
    assert!(!decide(&d, Action::Connect, &c, vars("dev-1", None)).is_allowed());
    assert!(!decide(&d, Action::Connect, &c, vars("x", T1)).is_allowed());
}

// --- the default device policy -------------------------------------------------------------

fn default_docs() -> [PolicyDocument; 1] {
    [doc(&default_device_policy(PREFIX))]
}

fn own(thing: &str, rest: &str) -> String {
    format!("{PREFIX}{thing}/defender/metrics/{rest}")
}

#[test]
fn default_policy_lets_a_device_report_for_itself() {
    let (d, a, v) = (default_docs(), arns(), vars("thing-1", T1));
    for fmt in ["json", "cbor"] {
        assert_eq!(
            decide(&d, Action::Publish, &a.topic(&own("thing-1", fmt)), v),
            Decision::Allow
        );
    }
    assert_eq!(
        decide(&d, Action::Connect, &a.client("thing-1"), v),
        Decision::Allow
    );
    // Another client id names another session: not the device's to take.
    let other = vars("any-client-id", T1);
    assert_eq!(
        decide(&d, Action::Connect, &a.client("any-client-id"), other),
        Decision::ImplicitDeny
    );
}

#[test]
fn default_policy_denies_publishing_for_another_thing() {
    let (d, a, v) = (default_docs(), arns(), vars("thing-2", T1));
    for fmt in ["json", "cbor"] {
        assert_eq!(
            decide(&d, Action::Publish, &a.topic(&own("thing-2", fmt)), v),
            Decision::ImplicitDeny
        );
    }
    // Nor its own answer topics (forging an answer), nor anything else.
    assert_eq!(
        decide(
            &d,
            Action::Publish,
            &a.topic(&own("thing-1", "json/accepted")),
            v
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(
            &d,
            Action::Publish,
            &a.topic(&own("thing-1", "json/extra")),
            v
        ),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(
            &d,
            Action::Publish,
            &a.topic("$aws/things/thing-1/shadow/update"),
            v
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn default_policy_subscribe_and_receive_own_answers_only() {
    let (d, a, v) = (default_docs(), arns(), vars("c", T1));
    for ans in [
        "json/accepted",
        "json/rejected",
        "cbor/accepted",
        "cbor/rejected",
    ] {
        assert_eq!(
            decide(
                &d,
                Action::Subscribe,
                &a.topic_filter(&own("thing-1", ans)),
                v
            ),
            Decision::Allow,
            "{ans}"
        );
        assert_eq!(
            decide(&d, Action::Receive, &a.topic(&own("thing-1", ans)), v),
            Decision::Allow,
            "{ans}"
        );
        assert_eq!(
            decide(
                &d,
                Action::Subscribe,
                &a.topic_filter(&own("thing-2", ans)),
                v
            ),
            Decision::ImplicitDeny
        );
        assert_eq!(
            decide(&d, Action::Receive, &a.topic(&own("thing-2", ans)), v),
            Decision::ImplicitDeny
        );
        // Subscribe grants topic filters, not topics.
        assert_eq!(
            decide(&d, Action::Subscribe, &a.topic(&own("thing-1", ans)), v),
            Decision::ImplicitDeny
        );
    }
    for filter in [
        "#",
        "$aws/things/#",
        "$aws/things/+/defender/metrics/json/accepted",
        &own("thing-1", "+/accepted"),
        &own("thing-1", "#"),
    ] {
        assert_eq!(
            decide(&d, Action::Subscribe, &a.topic_filter(filter), v),
            Decision::ImplicitDeny,
            "{filter}"
        );
    }
    // The device may not subscribe to its own report topic (reading other publishers' copies).
    assert_eq!(
        decide(
            &d,
            Action::Subscribe,
            &a.topic_filter(&own("thing-1", "json")),
            v
        ),
        Decision::ImplicitDeny
    );
}

#[test]
fn default_policy_needs_an_attached_thing() {
    let (d, a, v) = (default_docs(), arns(), vars("c", None));
    assert_eq!(
        decide(&d, Action::Connect, &a.client("c"), v),
        Decision::ImplicitDeny
    );
    assert_eq!(
        decide(&d, Action::Publish, &a.topic(&own("", "json")), v),
        Decision::ImplicitDeny
    );
}

#[test]
fn default_policy_with_custom_prefix_escapes_wildcards() {
    let d = [doc(&default_device_policy("dd/*/"))];
    let (a, v) = (arns(), vars("c", T1));
    assert!(
        decide(
            &d,
            Action::Publish,
            &a.topic("dd/*/thing-1/defender/metrics/json"),
            v
        )
        .is_allowed()
    );
    assert!(
        !decide(
            &d,
            Action::Publish,
            &a.topic("dd/x/thing-1/defender/metrics/json"),
            v
        )
        .is_allowed()
    );
    let d = [doc(&default_device_policy("p${iot:ClientId}/"))];
    assert!(
        decide(
            &d,
            Action::Publish,
            &a.topic("p${iot:ClientId}/thing-1/defender/metrics/cbor"),
            v
        )
        .is_allowed()
    );
    assert!(
        !decide(
            &d,
            Action::Publish,
            &a.topic("pc/thing-1/defender/metrics/cbor"),
            v
        )
        .is_allowed()
    );
}

#[test]
fn substituted_mqtt_wildcards_do_not_widen_a_subscription() {
    let d = [stmt(
        "Allow",
        "iot:Subscribe".into(),
        "arn:aws:iot:*:*:topicfilter/a/${iot:ClientId}".into(),
    )];
    for id in ["#", "+", "x/#", "x+"] {
        let filter = format!("a/{id}");
        assert!(
            !decide(
                &d,
                Action::Subscribe,
                &arns().topic_filter(&filter),
                vars(id, T1)
            )
            .is_allowed(),
            "client id {id:?} widened the grant to {filter}"
        );
    }
    assert!(
        decide(
            &d,
            Action::Subscribe,
            &arns().topic_filter("a/c1"),
            vars("c1", T1)
        )
        .is_allowed()
    );
}

#[test]
fn the_default_policy_binds_the_client_id_to_the_thing() {
    let d = [doc(&default_device_policy(PREFIX))];
    let attached = |client: &str| {
        decide(
            &d,
            Action::Connect,
            &arns().client(client),
            vars(client, T1),
        )
        .is_allowed()
    };
    assert!(attached("thing-1"));
    assert!(!attached("someone-else"), "any client id may connect");
    assert!(!attached("*"));
}

#[test]
fn default_policy_is_readable_json() {
    let text = default_device_policy(PREFIX);
    assert!(text.contains("\"Version\": \"2012-10-17\""), "{text}");
    assert!(
        text.contains(
            "topic/$aws/things/${iot:Connection.Thing.ThingName}/defender/metrics/json\""
        ),
        "{text}"
    );
    let parsed = doc(&text);
    assert_eq!(parsed.statements().len(), 4);
    assert_eq!(parsed.statements()[1].effect(), Effect::Allow);
    assert_eq!(parsed.statements()[1].actions(), ["iot:Publish"]);
    assert_eq!(parsed.statements()[1].resources().len(), 2);
    assert_eq!(parsed.statements()[0].sid(), Some("ConnectWhenAttached"));
    assert!(parsed.statements()[0].has_condition());
}

// --- ARNs ----------------------------------------------------------------------------------

#[test]
fn arn_helpers() {
    let a = arns();
    assert_eq!(
        a.client("c1"),
        "arn:aws:iot:us-east-1:123456789012:client/c1"
    );
    assert_eq!(
        a.topic("$aws/things/t/x"),
        "arn:aws:iot:us-east-1:123456789012:topic/$aws/things/t/x"
    );
    assert_eq!(
        a.topic_filter("a/+/#"),
        "arn:aws:iot:us-east-1:123456789012:topicfilter/a/+/#"
    );
    assert_eq!(Action::Subscribe.as_str(), "iot:Subscribe");
}

// --- malformed documents -------------------------------------------------------------------

#[test]
fn malformed_documents_name_the_field() {
    let cases: &[(&str, &str)] = &[
        ("not json", "not valid JSON"),
        ("[]", "(document): expected a JSON object"),
        (r#"{"Statement":[]}"#, "Version: missing"),
        (
            r#"{"Version":"2008-10-17","Statement":[]}"#,
            "Version: expected \"2012-10-17\"",
        ),
        (
            r#"{"Version":2012,"Statement":[]}"#,
            "Version: expected \"2012-10-17\"",
        ),
        (r#"{"Version":"2012-10-17"}"#, "Statement: missing"),
        (
            r#"{"Version":"2012-10-17","Statement":"x"}"#,
            "Statement: expected an object or a list",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[1]}"#,
            "Statement[0]: expected an object",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[],"Extra":1}"#,
            "Extra: unsupported field",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[],"Id":1}"#,
            "Id: expected a string",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"},{"Effect":"allow","Action":"iot:*","Resource":"*"}]}"#,
            "Statement[1].Effect: expected \"Allow\" or \"Deny\"",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":{"Action":"iot:*","Resource":"*"}}"#,
            "Statement.Effect: missing",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Resource":"*"}]}"#,
            "Statement[0].Action: missing",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*"}]}"#,
            "Statement[0].Resource: missing",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}"#,
            "Statement[0].Action: must not be empty",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"","Resource":"*"}]}"#,
            "Statement[0].Action: must not be empty",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Publish",3],"Resource":"*"}]}"#,
            "Statement[0].Action[1]: expected a string",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":{}}]}"#,
            "Statement[0].Resource: expected a string or a list",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iot:Connect","Resource":"*"}]}"#,
            "Statement[0].NotAction: not supported",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","NotResource":"*"}]}"#,
            "Statement[0].NotResource: not supported",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Principal":"*"}]}"#,
            "Statement[0].Principal: not allowed",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Foo":1}]}"#,
            "Statement[0].Foo: unsupported field",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Sid":1,"Effect":"Allow","Action":"iot:*","Resource":"*"}]}"#,
            "Statement[0].Sid: expected a string",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":[]}]}"#,
            "Statement[0].Condition: expected an object",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
            "Statement[0].Condition.IpAddress: unsupported condition operator",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{"StringEquals":{"iot:Connection.Thing.ThingTypeName":"x"}}}]}"#,
            "Statement[0].Condition.StringEquals.iot:Connection.Thing.ThingTypeName: unsupported condition key",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"yes"}}}]}"#,
            "Statement[0].Condition.Bool.iot:Connection.Thing.IsAttached: expected \"true\" or \"false\"",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{"StringLike":{"iot:ClientId":[]}}}]}"#,
            "Statement[0].Condition.StringLike.iot:ClientId: must not be empty",
        ),
        (
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*","Condition":{"StringLike":{}}}]}"#,
            "Statement[0].Condition.StringLike: must not be empty",
        ),
    ];
    for (json, expected) in cases {
        let err = parse_err(json);
        assert!(
            err.contains(expected),
            "for {json}\n  got:      {err}\n  expected: {expected}"
        );
    }
}

#[test]
fn invalid_error_exposes_the_field() {
    match PolicyDocument::parse(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"iot:*","Resource":"*"}]}"#,
    ) {
        Err(PolicyError::Invalid { field, .. }) => assert_eq!(field, "Statement[0].Effect"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn single_statement_object_and_id_are_accepted() {
    let d = doc(
        r#"{"Version":"2012-10-17","Id":"p1","Statement":{"Sid":"s","Effect":"Allow","Action":"iot:Connect","Resource":"*"}}"#,
    );
    assert_eq!(d.statements().len(), 1);
    assert_eq!(d.statements()[0].sid(), Some("s"));
}

#[test]
fn hostile_patterns_stay_fast() {
    let pattern = format!("arn:aws:iot:*:*:topic/{}b", "*a".repeat(200));
    let d = [stmt("Allow", "iot:Publish".into(), pattern.into())];
    let topic = "a".repeat(10_000);
    let start = std::time::Instant::now();
    assert!(!decide(&d, Action::Publish, &arns().topic(&topic), vars("c", T1)).is_allowed());
    assert!(start.elapsed() < std::time::Duration::from_secs(2));
}

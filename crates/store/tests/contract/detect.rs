//! The detection families: custom metrics, dimensions, security profiles and their targets,
//! behavior states, the atomic detection step, violations and violation events.

use fleetward_store::{
    NewCustomMetric, NewDimension, NewSecurityProfile, NewViolation, PageRequest, StoreError,
    StoredBehaviorState, VerificationState, ViolationEvent, ViolationEventFilter,
    ViolationEventType,
};
use serde_json::json;

use fleetward_store::prelude::*;

use super::{Backend, all_pages, hex_of, is_not_found, page};

fn garbled() -> PageRequest {
    page(10, Some("not-a-token".into()))
}

fn is_already_exists(e: &StoreError, want_kind: &str, want_name: &str) -> bool {
    matches!(e, StoreError::AlreadyExists { kind, name } if *kind == want_kind && name == want_name)
}

pub(crate) fn metric(name: &str) -> NewCustomMetric {
    NewCustomMetric {
        name: name.into(),
        display_name: Some(format!("The {name}")),
        metric_type: "number".into(),
    }
}

fn dimension(name: &str, values: &[&str]) -> NewDimension {
    NewDimension {
        name: name.into(),
        dimension_type: "TOPIC_FILTER".into(),
        string_values: values.iter().map(|v| (*v).to_owned()).collect(),
    }
}

pub(crate) fn profile(name: &str, threshold: i64) -> NewSecurityProfile {
    NewSecurityProfile {
        name: name.into(),
        description: Some(format!("the {name} profile")),
        behaviors: json!([{
            "name": "msgs",
            "metric": "aws:num-messages-sent",
            "criteria": {"comparisonOperator": "greater-than", "value": {"count": threshold}, "durationSeconds": 300}
        }]),
        alert_targets: json!({"SNS": {"alertTargetArn": "arn:aws:sns:us-east-1:123:t", "roleArn": "arn:aws:iam::123:role/r"}}),
        additional_metrics: json!([{"metric": "aws:num-connection-attempts"}]),
    }
}

fn state(thing: &str, profile: &str, behavior: &str, n: i64) -> StoredBehaviorState {
    StoredBehaviorState {
        thing: thing.into(),
        profile: profile.into(),
        behavior: behavior.into(),
        state: json!({"status": "Normal", "breaches": n}),
        updated_at: 1000 + n,
    }
}

pub(crate) fn vid(n: u32) -> String {
    format!("{n:032x}")
}

fn violation(id: u32, thing: &str, profile: &str, at: i64) -> NewViolation {
    NewViolation {
        violation_id: vid(id),
        thing: thing.into(),
        profile: profile.into(),
        behavior: "msgs".into(),
        metric: Some("aws:num-messages-sent".into()),
        behavior_definition: json!({"name": "msgs", "metric": "aws:num-messages-sent"}),
        last_value: Some(json!({"count": 50})),
        started_at: at,
        last_at: at,
    }
}

fn event(id: u32, thing: &str, profile: &str, t: ViolationEventType, at: i64) -> ViolationEvent {
    ViolationEvent {
        violation_id: vid(id),
        thing: thing.into(),
        profile: profile.into(),
        behavior: "msgs".into(),
        behavior_definition: Some(json!({"name": "msgs"})),
        event_type: t,
        event_time: at,
        value: Some(json!({"count": at})),
        verification_state: None,
        verification_description: None,
    }
}

pub async fn custom_metrics_create_get_update_delete<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let m = s.create_custom_metric(&metric("temp")).await.unwrap();
    assert_eq!(m.name, "temp");
    assert_eq!(m.display_name.as_deref(), Some("The temp"));
    assert_eq!(m.metric_type, "number");
    assert_eq!(m.created_at, m.modified_at);
    assert_eq!(s.get_custom_metric("temp").await.unwrap(), Some(m.clone()));
    assert_eq!(s.get_custom_metric("nope").await.unwrap(), None);

    let e = s.create_custom_metric(&metric("temp")).await.unwrap_err();
    assert!(is_already_exists(&e, "custom metric", "temp"), "{e:?}");

    let u = s
        .update_custom_metric("temp", Some("Temperature"))
        .await
        .unwrap();
    assert_eq!(u.display_name.as_deref(), Some("Temperature"));
    assert_eq!(u.created_at, m.created_at);
    assert!(u.modified_at >= m.modified_at);
    let u = s.update_custom_metric("temp", None).await.unwrap();
    assert_eq!(u.display_name, None);
    assert_eq!(s.get_custom_metric("temp").await.unwrap(), Some(u));
    let e = s.update_custom_metric("nope", Some("x")).await.unwrap_err();
    assert!(is_not_found(&e, "custom metric", "nope"), "{e:?}");

    s.delete_custom_metric("temp").await.unwrap();
    assert_eq!(s.get_custom_metric("temp").await.unwrap(), None);
    let e = s.delete_custom_metric("temp").await.unwrap_err();
    assert!(is_not_found(&e, "custom metric", "temp"), "{e:?}");
}

pub async fn custom_metrics_page_and_reject_bad_tokens<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    for i in 0..7 {
        s.create_custom_metric(&metric(&format!("m{i}")))
            .await
            .unwrap();
    }
    let pages = all_pages(3, |p| async move { s.list_custom_metrics(&p).await }).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    let names: Vec<String> = pages.into_iter().flatten().map(|m| m.name).collect();
    assert_eq!(names, (0..7).map(|i| format!("m{i}")).collect::<Vec<_>>());

    assert!(matches!(
        s.list_custom_metrics(&garbled()).await,
        Err(StoreError::InvalidToken)
    ));
    // A token of another listing is refused too.
    let other = s.list_custom_metrics(&page(1, None)).await.unwrap();
    let t = other.next_token.unwrap();
    assert!(matches!(
        s.list_dimensions(&page(1, Some(t))).await,
        Err(StoreError::InvalidToken)
    ));
}

pub async fn dimensions_create_get_list_update_delete<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let d = s
        .create_dimension(&dimension("topics", &["a/#", "b/+/c"]))
        .await
        .unwrap();
    assert_eq!(d.dimension_type, "TOPIC_FILTER");
    assert_eq!(d.string_values, ["a/#", "b/+/c"]);
    assert_eq!(s.get_dimension("topics").await.unwrap(), Some(d.clone()));
    assert_eq!(s.get_dimension("nope").await.unwrap(), None);
    let e = s
        .create_dimension(&dimension("topics", &[]))
        .await
        .unwrap_err();
    assert!(is_already_exists(&e, "dimension", "topics"), "{e:?}");

    let u = s
        .update_dimension("topics", &["x/y".to_owned()])
        .await
        .unwrap();
    assert_eq!(u.string_values, ["x/y"]);
    assert_eq!(u.created_at, d.created_at);
    assert_eq!(s.get_dimension("topics").await.unwrap(), Some(u));
    let e = s.update_dimension("nope", &[]).await.unwrap_err();
    assert!(is_not_found(&e, "dimension", "nope"), "{e:?}");

    for i in 0..4 {
        s.create_dimension(&dimension(&format!("d{i}"), &["t"]))
            .await
            .unwrap();
    }
    let pages = all_pages(2, |p| async move { s.list_dimensions(&p).await }).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let names: Vec<String> = pages.into_iter().flatten().map(|d| d.name).collect();
    assert_eq!(names, ["d0", "d1", "d2", "d3", "topics"]);
    assert!(matches!(
        s.list_dimensions(&garbled()).await,
        Err(StoreError::InvalidToken)
    ));

    s.delete_dimension("topics").await.unwrap();
    assert_eq!(s.get_dimension("topics").await.unwrap(), None);
    let e = s.delete_dimension("topics").await.unwrap_err();
    assert!(is_not_found(&e, "dimension", "topics"), "{e:?}");
}

pub async fn security_profiles_create_get_list_delete<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let p = s.create_security_profile(&profile("sp", 10)).await.unwrap();
    assert_eq!(p.version, 1);
    assert_eq!(p.behaviors, profile("sp", 10).behaviors);
    assert_eq!(p.alert_targets, profile("sp", 10).alert_targets);
    assert_eq!(p.additional_metrics, profile("sp", 10).additional_metrics);
    assert_eq!(s.get_security_profile("sp").await.unwrap(), Some(p.clone()));
    assert_eq!(s.get_security_profile("nope").await.unwrap(), None);
    let e = s
        .create_security_profile(&profile("sp", 1))
        .await
        .unwrap_err();
    assert!(is_already_exists(&e, "security profile", "sp"), "{e:?}");

    for i in 0..4 {
        s.create_security_profile(&profile(&format!("p{i}"), i))
            .await
            .unwrap();
    }
    let pages = all_pages(2, |p| async move { s.list_security_profiles(&p).await }).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let names: Vec<String> = pages.into_iter().flatten().map(|p| p.name).collect();
    assert_eq!(names, ["p0", "p1", "p2", "p3", "sp"]);
    assert!(matches!(
        s.list_security_profiles(&garbled()).await,
        Err(StoreError::InvalidToken)
    ));

    // Deleting checks the expected version, and takes targets and states with it.
    s.attach_security_profile("sp", "arn:aws:iot:r:1:all/things")
        .await
        .unwrap();
    s.upsert_behavior_states(&[state("t1", "sp", "msgs", 1), state("t1", "p0", "msgs", 1)])
        .await
        .unwrap();
    let e = s.delete_security_profile("sp", Some(7)).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains('7') && m.contains('1')),
        "{e:?}"
    );
    s.delete_security_profile("sp", Some(1)).await.unwrap();
    assert_eq!(s.get_security_profile("sp").await.unwrap(), None);
    assert!(
        s.target_security_profiles("arn:aws:iot:r:1:all/things")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.behavior_states("sp").await.unwrap().is_empty());
    assert_eq!(s.behavior_states("p0").await.unwrap().len(), 1);
    let e = s.delete_security_profile("sp", None).await.unwrap_err();
    assert!(is_not_found(&e, "security profile", "sp"), "{e:?}");
    s.delete_security_profile("p0", None).await.unwrap();
}

pub async fn security_profile_updates_check_and_increment_the_version<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let created = s.create_security_profile(&profile("sp", 10)).await.unwrap();

    let mut next = profile("sp", 20);
    next.description = None;
    let v2 = s.update_security_profile(&next, Some(1)).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(v2.description, None);
    assert_eq!(v2.behaviors, next.behaviors);
    assert_eq!(v2.created_at, created.created_at);
    assert!(v2.modified_at >= created.modified_at);
    assert_eq!(s.get_security_profile("sp").await.unwrap(), Some(v2));

    // A stale expected version names both versions and changes nothing.
    let e = s
        .update_security_profile(&profile("sp", 30), Some(1))
        .await
        .unwrap_err();
    match &e {
        StoreError::Conflict(m) => {
            assert!(m.contains("version 2"), "{m}");
            assert!(m.contains("version 1"), "{m}");
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    assert_eq!(
        s.get_security_profile("sp").await.unwrap().unwrap().version,
        2
    );

    // Without an expected version, the update always applies.
    let v3 = s
        .update_security_profile(&profile("sp", 30), None)
        .await
        .unwrap();
    assert_eq!(v3.version, 3);
    assert_eq!(v3.behaviors, profile("sp", 30).behaviors);

    let e = s
        .update_security_profile(&profile("nope", 1), None)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "security profile", "nope"), "{e:?}");
}

pub async fn security_profile_targets_attach_and_detach<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let all = "arn:aws:iot:us-east-1:123:all/things";
    let group = "arn:aws:iot:us-east-1:123:thinggroup/g";
    s.create_security_profile(&profile("a", 1)).await.unwrap();
    s.create_security_profile(&profile("b", 1)).await.unwrap();

    s.attach_security_profile("a", all).await.unwrap();
    s.attach_security_profile("a", all).await.unwrap(); // idempotent
    s.attach_security_profile("a", group).await.unwrap();
    s.attach_security_profile("b", all).await.unwrap();
    let e = s.attach_security_profile("nope", all).await.unwrap_err();
    assert!(is_not_found(&e, "security profile", "nope"), "{e:?}");

    assert_eq!(s.security_profile_targets("a").await.unwrap(), [all, group]);
    assert_eq!(s.security_profile_targets("b").await.unwrap(), [all]);
    assert_eq!(s.target_security_profiles(all).await.unwrap(), ["a", "b"]);
    assert_eq!(s.target_security_profiles(group).await.unwrap(), ["a"]);
    assert!(
        s.target_security_profiles("arn:x")
            .await
            .unwrap()
            .is_empty()
    );
    let e = s.security_profile_targets("nope").await.unwrap_err();
    assert!(is_not_found(&e, "security profile", "nope"), "{e:?}");

    s.detach_security_profile("a", all).await.unwrap();
    s.detach_security_profile("a", all).await.unwrap(); // idempotent
    assert_eq!(s.security_profile_targets("a").await.unwrap(), [group]);
    assert_eq!(s.target_security_profiles(all).await.unwrap(), ["b"]);

    // Deleting a profile cascades to its targets.
    s.delete_security_profile("a", None).await.unwrap();
    assert!(s.target_security_profiles(group).await.unwrap().is_empty());
}

pub async fn behavior_states_upsert_load_delete_and_survive_reopening<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    s.upsert_behavior_states(&[]).await.unwrap();
    s.upsert_behavior_states(&[
        state("t2", "sp", "b", 1),
        state("t1", "sp", "b", 1),
        state("t1", "sp", "a", 1),
        state("t1", "other", "a", 1),
    ])
    .await
    .unwrap();
    // Replaces, in one batch with a new row.
    s.upsert_behavior_states(&[state("t1", "sp", "a", 5), state("t3", "sp", "a", 1)])
        .await
        .unwrap();

    let loaded = s.behavior_states("sp").await.unwrap();
    assert_eq!(
        loaded,
        [
            state("t1", "sp", "a", 5),
            state("t1", "sp", "b", 1),
            state("t2", "sp", "b", 1),
            state("t3", "sp", "a", 1),
        ]
    );
    assert!(s.behavior_states("none").await.unwrap().is_empty());

    let f = f.reopen().await;
    let s = f.store();
    assert_eq!(s.behavior_states("sp").await.unwrap(), loaded);
    assert_eq!(s.behavior_states("other").await.unwrap().len(), 1);

    assert_eq!(s.delete_thing_behavior_states("t1").await.unwrap(), 3);
    assert_eq!(s.behavior_states("other").await.unwrap(), []);
    assert_eq!(s.behavior_states("sp").await.unwrap().len(), 2);
    assert_eq!(s.delete_profile_behavior_states("sp").await.unwrap(), 2);
    assert!(s.behavior_states("sp").await.unwrap().is_empty());
    assert_eq!(s.delete_profile_behavior_states("sp").await.unwrap(), 0);
}

pub async fn violations_upsert_close_and_survive_reopening<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    s.upsert_violation(&violation(1, "t1", "sp", 100))
        .await
        .unwrap();
    // A refresh keeps started_at and takes the new value and time.
    let mut refresh = violation(1, "t1", "sp", 999);
    refresh.last_value = Some(json!({"count": 70}));
    refresh.last_at = 200;
    s.upsert_violation(&refresh).await.unwrap();
    let v = s.get_violation(&vid(1)).await.unwrap().unwrap();
    assert_eq!(v.started_at, 100);
    assert_eq!(v.last_at, 200);
    assert_eq!(v.last_value, Some(json!({"count": 70})));
    assert_eq!(v.ended_at, None);
    assert_eq!(v.behavior, "msgs");
    assert_eq!(v.metric.as_deref(), Some("aws:num-messages-sent"));
    assert_eq!(v.verification_state, None);
    assert_eq!(s.get_violation(&vid(9)).await.unwrap(), None);

    s.upsert_violation(&violation(2, "t2", "sp", 150))
        .await
        .unwrap();

    let f = f.reopen().await;
    let s = f.store();
    let active = s
        .list_active_violations(None, None, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        active
            .items
            .iter()
            .map(|v| v.violation_id.clone())
            .collect::<Vec<_>>(),
        [vid(1), vid(2)]
    );
    assert_eq!(active.items[0], v);

    // Closing ends it and records the event with the violation's details, atomically.
    s.close_violation(
        &vid(1),
        ViolationEventType::AlarmCleared,
        300,
        Some(&json!({"count": 3})),
    )
    .await
    .unwrap();
    let ended = s.get_violation(&vid(1)).await.unwrap().unwrap();
    assert_eq!(ended.ended_at, Some(300));
    let active = s
        .list_active_violations(None, None, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(active.items.len(), 1);
    assert_eq!(active.items[0].violation_id, vid(2));
    let events = s
        .list_violation_events(
            &ViolationEventFilter {
                from_ms: 0,
                to_ms: 1000,
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(events.items.len(), 1);
    let e = &events.items[0];
    assert_eq!(e.violation_id, vid(1));
    assert_eq!(e.thing, "t1");
    assert_eq!(e.profile, "sp");
    assert_eq!(e.event_type, ViolationEventType::AlarmCleared);
    assert_eq!(e.event_time, 300);
    assert_eq!(e.value, Some(json!({"count": 3})));
    assert_eq!(e.behavior_definition, Some(v.behavior_definition.clone()));

    // An ended violation cannot be closed again or refreshed.
    let err = s
        .close_violation(&vid(1), ViolationEventType::AlarmInvalidated, 400, None)
        .await
        .unwrap_err();
    assert!(is_not_found(&err, "active violation", &vid(1)), "{err:?}");
    let err = s
        .upsert_violation(&violation(1, "t1", "sp", 500))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let err = s
        .close_violation(&vid(9), ViolationEventType::AlarmCleared, 400, None)
        .await
        .unwrap_err();
    assert!(is_not_found(&err, "active violation", &vid(9)), "{err:?}");
    let err = s
        .close_violation(&vid(2), ViolationEventType::InAlarm, 400, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    s.close_violation(&vid(2), ViolationEventType::AlarmInvalidated, 400, None)
        .await
        .unwrap();

    // Ended violations and their events survive reopening too.
    let f = f.reopen().await;
    let s = f.store();
    assert_eq!(s.get_violation(&vid(1)).await.unwrap(), Some(ended));
    assert!(
        s.list_active_violations(None, None, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let events = s
        .list_violation_events(
            &ViolationEventFilter {
                from_ms: 0,
                to_ms: 1000,
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        events
            .items
            .iter()
            .map(|e| e.event_type)
            .collect::<Vec<_>>(),
        [
            ViolationEventType::AlarmCleared,
            ViolationEventType::AlarmInvalidated
        ]
    );
    assert_eq!(events.items[1].value, None);
}

pub async fn active_violations_filter_and_page<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    // 10 violations: things t0/t1 alternate, profiles a (ids < 5) and b.
    for i in 0..10u32 {
        let thing = format!("t{}", i % 2);
        let prof = if i < 5 { "a" } else { "b" };
        s.upsert_violation(&violation(i, &thing, prof, i64::from(i)))
            .await
            .unwrap();
    }
    let ids = |pages: Vec<Vec<fleetward_store::Violation>>| -> Vec<String> {
        pages
            .into_iter()
            .flatten()
            .map(|v| v.violation_id)
            .collect()
    };

    let pages = all_pages(3, |p| async move {
        s.list_active_violations(None, None, &p).await
    })
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3, 1]);
    assert_eq!(ids(pages), (0..10).map(vid).collect::<Vec<_>>());

    let pages = all_pages(2, |p| async move {
        s.list_active_violations(Some("t0"), None, &p).await
    })
    .await;
    assert_eq!(ids(pages), [0, 2, 4, 6, 8].map(vid));

    let pages = all_pages(2, |p| async move {
        s.list_active_violations(None, Some("b"), &p).await
    })
    .await;
    assert_eq!(ids(pages), [5, 6, 7, 8, 9].map(vid));

    let pages = all_pages(2, |p| async move {
        s.list_active_violations(Some("t1"), Some("a"), &p).await
    })
    .await;
    assert_eq!(ids(pages), [1, 3].map(vid));

    assert!(
        s.list_active_violations(Some("t9"), None, &PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        s.list_active_violations(None, None, &garbled()).await,
        Err(StoreError::InvalidToken)
    ));
}

pub async fn violation_events_by_time_range_filters_and_pages<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    // Events at t = 0, 10, …, 190; several share a time to exercise the tie-breaker.
    for i in 0..20u32 {
        let thing = format!("t{}", i % 2);
        let prof = if i % 4 < 2 { "a" } else { "b" };
        let at = i64::from(i / 2) * 10;
        s.insert_violation_event(&event(i, &thing, prof, ViolationEventType::InAlarm, at))
            .await
            .unwrap();
    }
    let filter =
        |thing: Option<&str>, profile: Option<&str>, from: i64, to: i64| ViolationEventFilter {
            thing: thing.map(Into::into),
            profile: profile.map(Into::into),
            from_ms: from,
            to_ms: to,
        };
    let ids = |pages: Vec<Vec<ViolationEvent>>| -> Vec<String> {
        pages
            .into_iter()
            .flatten()
            .map(|e| e.violation_id)
            .collect()
    };

    let all = filter(None, None, 0, 1000);
    let pages = all_pages(3, |p| {
        let all = all.clone();
        async move { s.list_violation_events(&all, &p).await }
    })
    .await;
    assert_eq!(pages.len(), 7);
    assert_eq!(ids(pages), (0..20).map(vid).collect::<Vec<_>>());

    // [20, 50): events 4..10; half-open at the end.
    let range = filter(None, None, 20, 50);
    let pages = all_pages(4, |p| {
        let range = range.clone();
        async move { s.list_violation_events(&range, &p).await }
    })
    .await;
    assert_eq!(ids(pages), (4..10).map(vid).collect::<Vec<_>>());

    let by_thing = filter(Some("t1"), None, 0, 1000);
    let pages = all_pages(2, |p| {
        let by_thing = by_thing.clone();
        async move { s.list_violation_events(&by_thing, &p).await }
    })
    .await;
    assert_eq!(
        ids(pages),
        (0..20).filter(|i| i % 2 == 1).map(vid).collect::<Vec<_>>()
    );

    let both = filter(Some("t0"), Some("b"), 0, 1000);
    let got = s
        .list_violation_events(&both, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        got.items
            .iter()
            .map(|e| e.violation_id.clone())
            .collect::<Vec<_>>(),
        [2, 6, 10, 14, 18].map(vid)
    );
    assert_eq!(got.items[0].value, Some(json!({"count": 10})));
    assert_eq!(
        got.items[0].behavior_definition,
        Some(json!({"name": "msgs"}))
    );

    assert!(matches!(
        s.list_violation_events(&all, &garbled()).await,
        Err(StoreError::InvalidToken)
    ));
    // A token from another listing is refused.
    let foreign = hex_of("fw1\u{1f}active-violations\u{1f}x");
    assert!(matches!(
        s.list_violation_events(&all, &page(2, Some(foreign))).await,
        Err(StoreError::InvalidToken)
    ));
}

pub async fn verification_state_is_set_on_the_violation_and_its_events<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    s.upsert_violation(&violation(1, "t1", "sp", 100))
        .await
        .unwrap();
    s.insert_violation_event(&event(1, "t1", "sp", ViolationEventType::InAlarm, 100))
        .await
        .unwrap();
    s.insert_violation_event(&event(2, "t1", "sp", ViolationEventType::InAlarm, 100))
        .await
        .unwrap();

    s.set_violation_verification_state(
        &vid(1),
        VerificationState::BenignPositive,
        Some("firmware update"),
    )
    .await
    .unwrap();
    let v = s.get_violation(&vid(1)).await.unwrap().unwrap();
    assert_eq!(
        v.verification_state,
        Some(VerificationState::BenignPositive)
    );
    assert_eq!(
        v.verification_description.as_deref(),
        Some("firmware update")
    );

    // Closing carries the state onto the closing event.
    s.close_violation(&vid(1), ViolationEventType::AlarmCleared, 200, None)
        .await
        .unwrap();
    // Still settable after it ended.
    s.set_violation_verification_state(&vid(1), VerificationState::TruePositive, None)
        .await
        .unwrap();

    let events = s
        .list_violation_events(
            &ViolationEventFilter {
                from_ms: 0,
                to_ms: 1000,
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), 3);
    for e in &events {
        if e.violation_id == vid(1) {
            assert_eq!(e.verification_state, Some(VerificationState::TruePositive));
            assert_eq!(e.verification_description, None);
        } else {
            assert_eq!(e.verification_state, None);
        }
    }

    let e = s
        .set_violation_verification_state(&vid(9), VerificationState::Unknown, None)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "violation", &vid(9)), "{e:?}");

    for st in [
        VerificationState::FalsePositive,
        VerificationState::BenignPositive,
        VerificationState::TruePositive,
        VerificationState::Unknown,
    ] {
        assert_eq!(VerificationState::parse(st.as_str()), Some(st));
    }
    for t in [
        ViolationEventType::InAlarm,
        ViolationEventType::AlarmCleared,
        ViolationEventType::AlarmInvalidated,
    ] {
        assert_eq!(ViolationEventType::parse(t.as_str()), Some(t));
    }
    assert_eq!(ViolationEventType::parse("bogus"), None);
}

pub async fn prune_removes_old_events_and_ended_violations_only<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    for i in 0..10u32 {
        s.insert_violation_event(&event(
            i,
            "t",
            "sp",
            ViolationEventType::InAlarm,
            i64::from(i) * 100,
        ))
        .await
        .unwrap();
    }
    s.upsert_violation(&violation(100, "t", "sp", 50))
        .await
        .unwrap();
    s.upsert_violation(&violation(101, "t", "sp", 50))
        .await
        .unwrap();
    s.upsert_violation(&violation(102, "t", "sp", 50))
        .await
        .unwrap();
    // 100 ended long ago, 101 ended recently, 102 is still active.
    s.close_violation(&vid(100), ViolationEventType::AlarmCleared, 120, None)
        .await
        .unwrap();
    s.close_violation(&vid(101), ViolationEventType::AlarmCleared, 900, None)
        .await
        .unwrap();

    // Events at 0..=400 (5) + the close event at 120, and violation 100.
    assert_eq!(s.prune_violations(450).await.unwrap(), 7);
    assert_eq!(s.get_violation(&vid(100)).await.unwrap(), None);
    assert!(s.get_violation(&vid(101)).await.unwrap().is_some());
    assert!(s.get_violation(&vid(102)).await.unwrap().is_some());
    let left = s
        .list_violation_events(
            &ViolationEventFilter {
                from_ms: i64::MIN,
                to_ms: i64::MAX,
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(
        left.iter().map(|e| e.event_time).collect::<Vec<_>>(),
        [500, 600, 700, 800, 900, 900]
    );
    assert_eq!(s.prune_violations(450).await.unwrap(), 0);
}

pub async fn apply_detection_writes_a_step_in_order_and_skips_what_cannot_apply<B: Backend>() {
    use fleetward_store::{DetectionOp, NewAlert};
    let f = B::open().await;
    let s = f.store();
    let alert = |key: &str| {
        DetectionOp::EnqueueAlert(NewAlert {
            target: "hook".into(),
            idempotency_key: key.into(),
            body: "{}".into(),
        })
    };
    let ops = vec![
        DetectionOp::UpsertViolation(violation(1, "t1", "p", 10)),
        DetectionOp::InsertEvent(event(1, "t1", "p", ViolationEventType::InAlarm, 10)),
        DetectionOp::UpsertState(state("t1", "p", "msgs", 1)),
        alert("v1:in-alarm:hook"),
        DetectionOp::CloseViolation {
            violation_id: vid(1),
            event_type: ViolationEventType::AlarmCleared,
            at_ms: 20,
            value: Some(json!({"count": 0})),
        },
        // Each of these cannot apply any more and is skipped, not fatal.
        DetectionOp::CloseViolation {
            violation_id: vid(1),
            event_type: ViolationEventType::AlarmInvalidated,
            at_ms: 30,
            value: None,
        },
        DetectionOp::UpsertViolation(violation(1, "t1", "p", 40)),
        alert("v1:in-alarm:hook"),
        // Later ops on the same key win: the state is deleted after being written.
        DetectionOp::UpsertState(state("t2", "p", "msgs", 2)),
        DetectionOp::DeleteState("t2".into(), "p".into(), "msgs".into()),
    ];
    let applied = s.apply_detection(&ops, 50).await.unwrap();
    assert_eq!(applied.alerts_enqueued, 1);
    assert_eq!(applied.skipped.len(), 2, "{:?}", applied.skipped);
    assert!(applied.skipped[0].contains("is not active"));
    assert!(applied.skipped[1].contains("has ended"));

    let v = s.get_violation(&vid(1)).await.unwrap().unwrap();
    assert_eq!(v.ended_at, Some(20));
    let kinds: Vec<ViolationEventType> = s
        .list_violation_events(
            &ViolationEventFilter {
                thing: Some("t1".into()),
                profile: None,
                from_ms: 0,
                to_ms: i64::MAX,
            },
            &page(10, None),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert_eq!(
        kinds,
        [
            ViolationEventType::InAlarm,
            ViolationEventType::AlarmCleared
        ]
    );
    let states = s.behavior_states("p").await.unwrap();
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].thing, "t1");
    assert_eq!(s.due_alerts(i64::MAX, 10).await.unwrap().len(), 1);
    assert_eq!(
        s.apply_detection(&[], 60).await.unwrap(),
        Default::default()
    );
}

/// Writers racing on one row cannot all pass the check that guards it: of four updates that
/// expect version 1 exactly one wins, and of four closes of one violation exactly one records
/// an event. (SQLite passes by its single writer; PostgreSQL by the row locks the shared SQL
/// takes, since its transactions run concurrently.)
pub async fn racing_writers_cannot_both_pass_a_guard<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    s.create_security_profile(&profile("sp", 1)).await.unwrap();
    let edits = [10, 20, 30, 40].map(|n| profile("sp", n));
    let update = |p| s.update_security_profile(p, Some(1));
    let (a, b, c, d) = tokio::join!(
        update(&edits[0]),
        update(&edits[1]),
        update(&edits[2]),
        update(&edits[3])
    );
    let results = [a, b, c, d];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
        }
    }
    let stored = s.get_security_profile("sp").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);

    s.upsert_violation(&violation(1, "t1", "sp", 100))
        .await
        .unwrap();
    let id = vid(1);
    let close = |at| s.close_violation(&id, ViolationEventType::AlarmCleared, at, None);
    let (a, b, c, d) = tokio::join!(close(200), close(201), close(202), close(203));
    let results = [a, b, c, d];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let events = s
        .list_violation_events(
            &ViolationEventFilter {
                from_ms: 0,
                to_ms: 1_000,
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), 1, "{events:?}");
}

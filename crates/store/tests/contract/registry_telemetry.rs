//! The registry, telemetry and key families: things, groups, certificates, CAs, policies,
//! reports, datapoints and metric values.

use std::collections::BTreeMap;
use std::net::IpAddr;

use fleetward_proto::Format;
use fleetward_proto::decode::{AwsMetric, Datapoint, Metric, MetricValue};
use fleetward_store::{
    CaCertificate, CertStatus, Certificate, CloudDatapoint, LastReport, MetricDatum, NewPolicy,
    NewThing, NewThingGroup, PageRequest, StoreError, StoredReport,
};

use fleetward_store::prelude::*;

use super::{Backend, all_pages, hex_of, is_not_found, page};

pub(crate) fn thing(name: &str) -> NewThing {
    NewThing {
        name: name.into(),
        attributes: BTreeMap::new(),
    }
}

fn group(name: &str, parent: Option<&str>) -> NewThingGroup {
    NewThingGroup {
        name: name.into(),
        parent: parent.map(Into::into),
        description: Some(format!("the {name} group")),
    }
}

fn cert(id: &str, subject: &str, serial: &str, created_at: i64) -> Certificate {
    Certificate {
        id: id.into(),
        pem: format!("-----BEGIN CERTIFICATE-----\n{id}\n-----END CERTIFICATE-----\n"),
        status: CertStatus::Active,
        ca_id: None,
        subject: subject.into(),
        serial: serial.into(),
        not_after: 4_000_000_000_000,
        created_at,
    }
}

pub(crate) fn report(
    thing: &str,
    report_id: u64,
    received_at: i64,
    dps: Vec<Datapoint>,
) -> StoredReport {
    StoredReport {
        thing: thing.into(),
        report_id,
        received_at,
        format: Format::Json,
        size: 100,
        datapoints: dps,
    }
}

pub(crate) fn dp(metric: AwsMetric, value: MetricValue) -> Datapoint {
    Datapoint {
        metric: Metric::Aws(metric),
        value,
    }
}

pub(crate) fn custom(name: &str, value: MetricValue) -> Datapoint {
    Datapoint {
        metric: Metric::Custom(name.into()),
        value,
    }
}

fn policy(name: &str) -> NewPolicy {
    NewPolicy {
        name: name.into(),
        document: format!(r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"{name}"}}]}}"#),
    }
}

pub async fn things_create_get_list_delete<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let mut attrs = BTreeMap::new();
    attrs.insert("site".to_owned(), "berlin".to_owned());
    let t = s
        .create_thing(&NewThing {
            name: "sensor-1".into(),
            attributes: attrs.clone(),
        })
        .await
        .unwrap();
    assert_eq!(t.version, 1);
    assert_eq!(t.attributes, attrs);
    assert!(t.created_at > 0);

    assert_eq!(s.get_thing("sensor-1").await.unwrap(), Some(t.clone()));
    assert_eq!(s.get_thing("nope").await.unwrap(), None);

    let dup = s.create_thing(&thing("sensor-1")).await.unwrap_err();
    assert!(
        matches!(&dup, StoreError::AlreadyExists { kind: "thing", name } if name == "sensor-1"),
        "{dup:?}"
    );

    let listed = s.list_things(&PageRequest::default()).await.unwrap();
    assert_eq!(listed.items, vec![t]);
    assert_eq!(listed.next_token, None);

    s.delete_thing("sensor-1").await.unwrap();
    assert_eq!(s.get_thing("sensor-1").await.unwrap(), None);
    let e = s.delete_thing("sensor-1").await.unwrap_err();
    assert!(is_not_found(&e, "thing", "sensor-1"), "{e:?}");
}

pub async fn deleting_a_thing_removes_its_memberships_and_principals<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    s.create_thing(&thing("t1")).await.unwrap();
    s.create_group(&group("g", None)).await.unwrap();
    s.add_thing_to_group("g", "t1").await.unwrap();
    s.insert_certificate(&cert("c1", "CN=t1", "1", 1))
        .await
        .unwrap();
    s.attach_thing_principal("t1", "c1").await.unwrap();

    s.delete_thing("t1").await.unwrap();
    let members = s
        .list_things_in_group("g", false, &PageRequest::default())
        .await
        .unwrap();
    assert!(members.items.is_empty());
    assert!(s.principal_things("c1").await.unwrap().is_empty());

    // Re-creating the name starts clean rather than inheriting the old links.
    s.create_thing(&thing("t1")).await.unwrap();
    assert!(s.groups_of_thing("t1").await.unwrap().is_empty());
    assert!(s.thing_principals("t1").await.unwrap().is_empty());
}

pub async fn things_page_three_times_and_reject_bad_tokens<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    // Inserted out of order: pages come back in name order regardless.
    for name in ["t5", "t1", "t7", "t3", "t2", "t6", "t4"] {
        s.create_thing(&thing(name)).await.unwrap();
    }
    let pages = all_pages(3, |p| async move { s.list_things(&p).await }).await;
    let names: Vec<Vec<&str>> = pages
        .iter()
        .map(|p| p.iter().map(|t| t.name.as_str()).collect())
        .collect();
    assert_eq!(
        names,
        vec![vec!["t1", "t2", "t3"], vec!["t4", "t5", "t6"], vec!["t7"]]
    );

    // Exactly a page's worth: no empty trailing page is promised.
    let p = s.list_things(&page(7, None)).await.unwrap();
    assert_eq!(p.items.len(), 7);
    assert_eq!(p.next_token, None);

    for bad in [
        "zz",
        "",
        "00",
        "not a token at all",
        &hex_of("fw1\u{1f}things"),
    ] {
        let e = s
            .list_things(&page(3, Some(bad.to_owned())))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::InvalidToken), "{bad:?}: {e:?}");
    }

    // A real token from another listing is not accepted here.
    s.create_policy(&policy("p1")).await.unwrap();
    s.create_policy(&policy("p2")).await.unwrap();
    let ptoken = s.list_policies(&page(1, None)).await.unwrap().next_token;
    assert!(ptoken.is_some());
    let e = s.list_things(&page(3, ptoken)).await.unwrap_err();
    assert!(matches!(e, StoreError::InvalidToken), "{e:?}");
}

pub async fn groups_nest_and_guard_their_tree<B: Backend>() {
    let f = B::open().await;
    let s = f.store();

    let e = s
        .create_group(&group("orphan", Some("missing")))
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "thing group", "missing"), "{e:?}");
    assert_eq!(s.get_group("orphan").await.unwrap(), None);

    let root = s.create_group(&group("root", None)).await.unwrap();
    assert_eq!(root.version, 1);
    assert_eq!(root.description.as_deref(), Some("the root group"));
    s.create_group(&group("eu", Some("root"))).await.unwrap();
    s.create_group(&group("us", Some("root"))).await.unwrap();
    s.create_group(&group("berlin", Some("eu"))).await.unwrap();
    let e = s.create_group(&group("eu", None)).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::AlreadyExists { kind: "thing group", name } if name == "eu"),
        "{e:?}"
    );
    assert_eq!(
        s.get_group("berlin")
            .await
            .unwrap()
            .unwrap()
            .parent
            .as_deref(),
        Some("eu")
    );

    let all = s.list_groups(None, &PageRequest::default()).await.unwrap();
    let names: Vec<_> = all.items.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["berlin", "eu", "root", "us"]);
    let children = all_pages(1, |p| async move { s.list_groups(Some("root"), &p).await }).await;
    let names: Vec<Vec<_>> = children
        .iter()
        .map(|p| p.iter().map(|g| g.name.clone()).collect())
        .collect();
    assert_eq!(names, vec![vec!["eu"], vec!["us"]]);
    let e = s
        .list_groups(Some("missing"), &PageRequest::default())
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "thing group", "missing"), "{e:?}");

    let e = s.delete_group("eu").await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("berlin")),
        "{e:?}"
    );
    assert!(s.get_group("eu").await.unwrap().is_some());

    s.delete_group("berlin").await.unwrap();
    s.delete_group("eu").await.unwrap();
    assert_eq!(s.get_group("eu").await.unwrap(), None);
    // Deleting what is already gone is not an error, as in AWS's DeleteThingGroup.
    s.delete_group("eu").await.unwrap();
}

pub async fn group_membership_direct_and_recursive<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    s.create_group(&group("root", None)).await.unwrap();
    s.create_group(&group("eu", Some("root"))).await.unwrap();
    s.create_group(&group("berlin", Some("eu"))).await.unwrap();
    s.create_group(&group("us", Some("root"))).await.unwrap();
    s.create_group(&group("other", None)).await.unwrap();
    for t in ["a", "b", "c", "d", "e"] {
        s.create_thing(&thing(t)).await.unwrap();
    }
    s.add_thing_to_group("root", "a").await.unwrap();
    s.add_thing_to_group("eu", "b").await.unwrap();
    s.add_thing_to_group("berlin", "c").await.unwrap();
    s.add_thing_to_group("berlin", "b").await.unwrap(); // in two groups of the subtree
    s.add_thing_to_group("us", "d").await.unwrap();
    s.add_thing_to_group("other", "e").await.unwrap();
    // Idempotent.
    s.add_thing_to_group("berlin", "c").await.unwrap();

    let e = s.add_thing_to_group("berlin", "zz").await.unwrap_err();
    assert!(is_not_found(&e, "thing", "zz"), "{e:?}");
    let e = s.add_thing_to_group("nowhere", "a").await.unwrap_err();
    assert!(is_not_found(&e, "thing group", "nowhere"), "{e:?}");

    let direct = s
        .list_things_in_group("eu", false, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(direct.items, ["b"]);

    let pages = all_pages(2, |p| async move {
        s.list_things_in_group("root", true, &p).await
    })
    .await;
    assert_eq!(pages, vec![vec!["a", "b"], vec!["c", "d"]]);
    let eu = s
        .list_things_in_group("eu", true, &PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        eu.items,
        ["b", "c"],
        "each thing once, descendants included"
    );

    let e = s
        .list_things_in_group("nowhere", true, &PageRequest::default())
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "thing group", "nowhere"), "{e:?}");

    assert_eq!(s.groups_of_thing("b").await.unwrap(), ["berlin", "eu"]);
    let e = s.groups_of_thing("zz").await.unwrap_err();
    assert!(is_not_found(&e, "thing", "zz"), "{e:?}");

    s.remove_thing_from_group("berlin", "b").await.unwrap();
    s.remove_thing_from_group("berlin", "b").await.unwrap(); // idempotent
    assert_eq!(s.groups_of_thing("b").await.unwrap(), ["eu"]);

    // A deleted group's memberships go with it.
    s.delete_group("other").await.unwrap();
    assert!(s.groups_of_thing("e").await.unwrap().is_empty());
}

pub async fn certificates_are_unique_by_id_and_by_subject_serial<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let c = cert("c1", "CN=dev1", "1a", 10);
    s.insert_certificate(&c).await.unwrap();

    let e = s
        .insert_certificate(&cert("c1", "CN=other", "2", 11))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::AlreadyExists { kind: "certificate", name } if name == "c1"),
        "{e:?}"
    );
    let e = s
        .insert_certificate(&cert("c2", "CN=dev1", "1a", 11))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &e,
            StoreError::AlreadyExists {
                kind: "certificate",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(s.get_certificate("c2").await.unwrap(), None);
    // Same subject with another serial, and same serial under another subject, are fine.
    s.insert_certificate(&cert("c3", "CN=dev1", "1b", 12))
        .await
        .unwrap();
    s.insert_certificate(&cert("c4", "CN=dev2", "1a", 13))
        .await
        .unwrap();

    assert_eq!(s.get_certificate("c1").await.unwrap(), Some(c.clone()));
    assert_eq!(s.find_certificate("CN=dev1", "1a").await.unwrap(), Some(c));
    assert_eq!(
        s.find_certificate("CN=dev2", "1a")
            .await
            .unwrap()
            .unwrap()
            .id,
        "c4"
    );
    assert_eq!(s.find_certificate("CN=dev2", "1b").await.unwrap(), None);

    s.set_certificate_status("c1", CertStatus::Revoked)
        .await
        .unwrap();
    assert_eq!(
        s.get_certificate("c1").await.unwrap().unwrap().status,
        CertStatus::Revoked
    );
    let e = s
        .set_certificate_status("zz", CertStatus::Inactive)
        .await
        .unwrap_err();
    assert!(is_not_found(&e, "certificate", "zz"), "{e:?}");
}

pub async fn certificates_list_newest_first_across_pages<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    // Two share a creation time: the id breaks the tie so no page repeats or skips one.
    for (id, at) in [("a", 1), ("b", 3), ("c", 2), ("d", 3), ("e", 5)] {
        s.insert_certificate(&cert(id, &format!("CN={id}"), "1", at))
            .await
            .unwrap();
    }
    let pages = all_pages(2, |p| async move { s.list_certificates(&p).await }).await;
    let ids: Vec<Vec<&str>> = pages
        .iter()
        .map(|p| p.iter().map(|c| c.id.as_str()).collect())
        .collect();
    assert_eq!(ids, vec![vec!["e", "d"], vec!["b", "c"], vec!["a"]]);
    let e = s
        .list_certificates(&page(2, Some("garbage".into())))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidToken), "{e:?}");
}

pub async fn principals_attach_only_to_existing_things_and_certificates<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    s.create_thing(&thing("t1")).await.unwrap();
    s.create_thing(&thing("t2")).await.unwrap();
    s.insert_certificate(&cert("c1", "CN=x", "1", 1))
        .await
        .unwrap();

    let e = s.attach_thing_principal("t1", "missing").await.unwrap_err();
    assert!(is_not_found(&e, "certificate", "missing"), "{e:?}");
    let e = s.attach_thing_principal("ghost", "c1").await.unwrap_err();
    assert!(is_not_found(&e, "thing", "ghost"), "{e:?}");

    s.attach_thing_principal("t1", "c1").await.unwrap();
    s.attach_thing_principal("t1", "c1").await.unwrap(); // idempotent
    s.attach_thing_principal("t2", "c1").await.unwrap();
    assert_eq!(s.thing_principals("t1").await.unwrap(), ["c1"]);
    assert_eq!(s.principal_things("c1").await.unwrap(), ["t1", "t2"]);

    s.detach_thing_principal("t1", "c1").await.unwrap();
    s.detach_thing_principal("t1", "c1").await.unwrap(); // idempotent
    assert!(s.thing_principals("t1").await.unwrap().is_empty());
    assert_eq!(s.principal_things("c1").await.unwrap(), ["t2"]);

    let e = s.thing_principals("ghost").await.unwrap_err();
    assert!(is_not_found(&e, "thing", "ghost"), "{e:?}");
    let e = s.principal_things("missing").await.unwrap_err();
    assert!(is_not_found(&e, "certificate", "missing"), "{e:?}");
}

pub async fn cas_insert_and_list<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let ca = |id: &str, at| CaCertificate {
        id: id.into(),
        pem: "pem".into(),
        status: CertStatus::Active,
        created_at: at,
    };
    s.insert_ca(&ca("ca2", 2)).await.unwrap();
    s.insert_ca(&ca("ca1", 1)).await.unwrap();
    let e = s.insert_ca(&ca("ca1", 3)).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::AlreadyExists { name, .. } if name == "ca1"),
        "{e:?}"
    );
    assert_eq!(
        s.list_cas().await.unwrap(),
        vec![ca("ca1", 1), ca("ca2", 2)]
    );
}

pub async fn policies_create_list_attach<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let p = s.create_policy(&policy("allow-defender")).await.unwrap();
    assert_eq!(p.version, "1");
    assert_eq!(p.document, policy("allow-defender").document);
    let e = s
        .create_policy(&policy("allow-defender"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::AlreadyExists { kind: "policy", .. }),
        "{e:?}"
    );
    assert_eq!(
        s.get_policy("allow-defender").await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(s.get_policy("nope").await.unwrap(), None);
    for n in ["b", "c", "a"] {
        s.create_policy(&policy(n)).await.unwrap();
    }
    let pages = all_pages(3, |pr| async move { s.list_policies(&pr).await }).await;
    let names: Vec<Vec<&str>> = pages
        .iter()
        .map(|p| p.iter().map(|p| p.name.as_str()).collect())
        .collect();
    assert_eq!(names, vec![vec!["a", "allow-defender", "b"], vec!["c"]]);

    s.insert_certificate(&cert("c1", "CN=x", "1", 1))
        .await
        .unwrap();
    let e = s.attach_policy("nope", "c1").await.unwrap_err();
    assert!(is_not_found(&e, "policy", "nope"), "{e:?}");
    let e = s.attach_policy("a", "zz").await.unwrap_err();
    assert!(is_not_found(&e, "certificate", "zz"), "{e:?}");
    s.attach_policy("b", "c1").await.unwrap();
    s.attach_policy("allow-defender", "c1").await.unwrap();
    s.attach_policy("b", "c1").await.unwrap(); // idempotent
    let attached: Vec<String> = s
        .principal_policies("c1")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(attached, ["allow-defender", "b"]);
    let e = s.principal_policies("zz").await.unwrap_err();
    assert!(is_not_found(&e, "certificate", "zz"), "{e:?}");
}

pub async fn policies_detach_and_delete_only_when_unattached<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    for n in ["a", "b"] {
        s.create_policy(&policy(n)).await.unwrap();
    }
    for (id, serial) in [("c1", "1"), ("c2", "2")] {
        s.insert_certificate(&cert(id, "CN=x", serial, 1))
            .await
            .unwrap();
    }
    s.attach_policy("a", "c1").await.unwrap();
    s.attach_policy("a", "c2").await.unwrap();
    s.attach_policy("b", "c1").await.unwrap();
    assert_eq!(s.policy_targets("a").await.unwrap(), ["c1", "c2"]);
    let e = s.policy_targets("nope").await.unwrap_err();
    assert!(is_not_found(&e, "policy", "nope"), "{e:?}");

    // Attached: refused, and nothing changes.
    let e = s.delete_policy("a").await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("2 certificate")),
        "{e:?}"
    );
    assert!(s.get_policy("a").await.unwrap().is_some());

    assert!(s.detach_policy("a", "c1").await.unwrap());
    assert!(
        !s.detach_policy("a", "c1").await.unwrap(),
        "already detached"
    );
    assert!(!s.detach_policy("nope", "c1").await.unwrap());
    let names = |c: &'static str| async move {
        s.principal_policies(c)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names("c1").await, ["b"]);
    assert_eq!(names("c2").await, ["a"]);
    assert!(s.delete_policy("a").await.is_err(), "still on c2");
    assert!(s.detach_policy("a", "c2").await.unwrap());
    s.delete_policy("a").await.unwrap();
    assert_eq!(s.get_policy("a").await.unwrap(), None);
    let e = s.delete_policy("a").await.unwrap_err();
    assert!(is_not_found(&e, "policy", "a"), "{e:?}");
    // The other policy and its attachment are untouched.
    assert_eq!(names("c1").await, ["b"]);
    // A deleted name can be created again, unattached.
    s.create_policy(&policy("a")).await.unwrap();
    assert_eq!(s.policy_targets("a").await.unwrap(), Vec::<String>::new());
}

pub async fn duplicate_reports_are_skipped<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let dps = vec![dp(AwsMetric::AllBytesIn, MetricValue::Count(1))];
    assert_eq!(s.insert_reports(&[]).await.unwrap(), 0);
    let n = s
        .insert_reports(&[
            report("t1", 1, 1000, dps.clone()),
            report("t1", 2, 2000, dps.clone()),
            report("t2", 1, 1000, dps.clone()), // same id, other thing: distinct
        ])
        .await
        .unwrap();
    assert_eq!(n, 3);
    // A redelivery of t1/2 next to a new one; the new one is stored, the old one is not.
    let n = s
        .insert_reports(&[
            report("t1", 2, 9999, vec![]),
            report("t1", 3, 3000, dps.clone()),
            report("t1", 3, 3001, dps.clone()), // duplicate within the batch
        ])
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(s.count_reports().await.unwrap(), 4);
    // The first copy wins: the redelivery did not overwrite it.
    let v = s
        .metric_values(
            "t1",
            &Metric::Aws(AwsMetric::AllBytesIn),
            0,
            i64::MAX,
            &PageRequest::default(),
        )
        .await
        .unwrap();
    let times: Vec<i64> = v.items.iter().map(|d| d.timestamp).collect();
    assert_eq!(times, [1000, 2000, 3000]);
}

pub async fn last_reports_gives_the_newest_per_thing<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    assert!(s.last_reports().await.unwrap().is_empty());
    s.insert_reports(&[
        report("a", 1, 100, vec![]),
        report("a", 7, 300, vec![]),
        report("a", 5, 200, vec![]),
        // Ids above i64::MAX must round-trip.
        report("b", u64::MAX, 50, vec![]),
        report("c", 1, 10, vec![]),
    ])
    .await
    .unwrap();
    // Stored later with the same receive time as c/1: the later one is newest.
    s.insert_reports(&[report("c", 2, 10, vec![])])
        .await
        .unwrap();
    let last = s.last_reports().await.unwrap();
    assert_eq!(
        last,
        vec![
            LastReport {
                thing: "a".into(),
                report_id: 7,
                received_at: 300
            },
            LastReport {
                thing: "b".into(),
                report_id: u64::MAX,
                received_at: 50
            },
            LastReport {
                thing: "c".into(),
                report_id: 2,
                received_at: 10
            },
        ]
    );
    // And u64::MAX is its own id, not an alias of another.
    assert_eq!(
        s.insert_reports(&[
            report("b", u64::MAX, 60, vec![]),
            report("b", i64::MAX as u64, 60, vec![])
        ])
        .await
        .unwrap(),
        1
    );
}

pub async fn device_metric_values_by_range_with_paging<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let metric = Metric::Aws(AwsMetric::ListeningTcpPorts);
    let mut reports = Vec::new();
    for i in 0..10u64 {
        let at = 1000 * i as i64;
        let mut dps = vec![dp(AwsMetric::AllBytesIn, MetricValue::Count(i))];
        // Every third report lacks the metric: those are skipped, not returned empty.
        if i % 3 != 2 {
            dps.push(dp(
                AwsMetric::ListeningTcpPorts,
                MetricValue::Ports(vec![22, 8000 + i as u16]),
            ));
        }
        reports.push(report("t", i, at, dps));
    }
    // Another thing's values never leak in.
    reports.push(report(
        "u",
        0,
        1000,
        vec![dp(
            AwsMetric::ListeningTcpPorts,
            MetricValue::Ports(vec![1]),
        )],
    ));
    s.insert_reports(&reports).await.unwrap();

    // [1000, 9000): i = 1..=8 minus i = 2, 5, 8 → 1, 3, 4, 6, 7.
    let pages = all_pages(2, |p| {
        let metric = &metric;
        async move { s.metric_values("t", metric, 1000, 9000, &p).await }
    })
    .await;
    let got: Vec<Vec<(i64, MetricValue)>> = pages
        .into_iter()
        .map(|p| p.into_iter().map(|d| (d.timestamp, d.value)).collect())
        .collect();
    let v = |i: u16| (i64::from(i) * 1000, MetricValue::Ports(vec![22, 8000 + i]));
    assert_eq!(got, vec![vec![v(1), v(3)], vec![v(4), v(6)], vec![v(7)]]);

    let empty = s
        .metric_values("t", &metric, 5000, 5000, &PageRequest::default())
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.next_token, None);
    let none = s
        .metric_values("nobody", &metric, 0, i64::MAX, &PageRequest::default())
        .await
        .unwrap();
    assert!(none.items.is_empty());

    let e = s
        .metric_values("t", &metric, 0, 9000, &page(2, Some("abc".into())))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidToken), "{e:?}");
}

pub async fn sparse_metric_scan_spans_many_reports<B: Backend>() {
    // More reports than one scan chunk, with the metric in few of them: paging must carry the
    // scan position, not just the last value's.
    let f = B::open().await;
    let s = f.store();
    let reports: Vec<_> = (0..1500u64)
        .map(|i| {
            let mut dps = vec![dp(AwsMetric::AllPacketsIn, MetricValue::Count(i))];
            if i % 100 == 99 {
                dps.push(custom("cpu-temp", MetricValue::Number(i as f64 / 10.0)));
            }
            report("t", i, i as i64, dps)
        })
        .collect();
    assert_eq!(s.insert_reports(&reports).await.unwrap(), 1500);
    let metric = Metric::Custom("cpu-temp".into());
    let pages = all_pages(4, |p| {
        let metric = &metric;
        async move { s.metric_values("t", metric, 0, 1500, &p).await }
    })
    .await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [4, 4, 4, 3]);
    let all: Vec<MetricDatum> = pages.into_iter().flatten().collect();
    let want: Vec<MetricDatum> = (0..15)
        .map(|k| {
            let i = k * 100 + 99;
            MetricDatum {
                timestamp: i,
                value: MetricValue::Number(i as f64 / 10.0),
                topic: None,
            }
        })
        .collect();
    assert_eq!(all, want);
}

pub async fn cloud_metric_values_by_range_with_paging<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let metric = Metric::Aws(AwsMetric::MessageByteSize);
    let mut points = Vec::new();
    for i in 0..6i64 {
        points.push(CloudDatapoint {
            thing: "t".into(),
            metric: AwsMetric::MessageByteSize,
            timestamp: 100 * i,
            value: MetricValue::Number(i as f64 * 1.5),
            topic: Some(format!("sensors/{i}")),
        });
    }
    // Same time, same metric: both kept, in insertion order.
    points.push(CloudDatapoint {
        thing: "t".into(),
        metric: AwsMetric::MessageByteSize,
        timestamp: 300,
        value: MetricValue::Number(99.0),
        topic: None,
    });
    // Other metrics and things do not mix in.
    points.push(CloudDatapoint {
        thing: "t".into(),
        metric: AwsMetric::NumMessagesSent,
        timestamp: 200,
        value: MetricValue::Count(4),
        topic: None,
    });
    points.push(CloudDatapoint {
        thing: "u".into(),
        metric: AwsMetric::MessageByteSize,
        timestamp: 200,
        value: MetricValue::Number(1.0),
        topic: None,
    });
    points.push(CloudDatapoint {
        thing: "t".into(),
        metric: AwsMetric::SourceIpAddress,
        timestamp: 200,
        value: MetricValue::Cidrs(vec!["192.0.2.7".parse::<IpAddr>().unwrap()]),
        topic: None,
    });
    s.insert_cloud_datapoints(&points).await.unwrap();
    s.insert_cloud_datapoints(&[]).await.unwrap();

    let pages = all_pages(2, |p| {
        let metric = &metric;
        async move { s.metric_values("t", metric, 100, 500, &p).await }
    })
    .await;
    let got: Vec<Vec<(i64, MetricValue, Option<String>)>> = pages
        .into_iter()
        .map(|p| {
            p.into_iter()
                .map(|d| (d.timestamp, d.value, d.topic))
                .collect()
        })
        .collect();
    let v = |i: i64| {
        (
            100 * i,
            MetricValue::Number(i as f64 * 1.5),
            Some(format!("sensors/{i}")),
        )
    };
    assert_eq!(
        got,
        vec![
            vec![v(1), v(2)],
            vec![v(3), (300, MetricValue::Number(99.0), None)],
            vec![v(4)],
        ]
    );

    let ips = s
        .metric_values(
            "t",
            &Metric::Aws(AwsMetric::SourceIpAddress),
            0,
            1000,
            &PageRequest::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        ips.items[0].value,
        MetricValue::Cidrs(vec!["192.0.2.7".parse().unwrap()])
    );

    // A device-values token is not a cloud-values token.
    let mut reports = Vec::new();
    for i in 0..3 {
        reports.push(report(
            "t",
            i,
            i as i64,
            vec![dp(AwsMetric::AllBytesIn, MetricValue::Count(i))],
        ));
    }
    s.insert_reports(&reports).await.unwrap();
    let device_token = s
        .metric_values(
            "t",
            &Metric::Aws(AwsMetric::AllBytesIn),
            0,
            10,
            &page(1, None),
        )
        .await
        .unwrap()
        .next_token;
    assert!(device_token.is_some());
    let e = s
        .metric_values("t", &metric, 0, 1000, &page(1, device_token))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::InvalidToken), "{e:?}");
}

pub async fn prune_deletes_reports_and_cloud_datapoints_before_the_cutoff<B: Backend>() {
    let f = B::open().await;
    let s = f.store();
    let reports: Vec<_> = (0..20u64)
        .map(|i| {
            report(
                "t",
                i,
                i as i64 * 10,
                vec![dp(AwsMetric::AllBytesIn, MetricValue::Count(i))],
            )
        })
        .collect();
    s.insert_reports(&reports).await.unwrap();
    let points: Vec<_> = (0..8i64)
        .map(|i| CloudDatapoint {
            thing: "t".into(),
            metric: AwsMetric::NumDisconnects,
            timestamp: i * 25,
            value: MetricValue::Count(1),
            topic: None,
        })
        .collect();
    s.insert_cloud_datapoints(&points).await.unwrap();

    // Reports at 0..=90 (10) and datapoints at 0, 25, 50, 75 (4) are before 100.
    assert_eq!(s.prune(100).await.unwrap(), 14);
    assert_eq!(s.count_reports().await.unwrap(), 10);
    assert_eq!(s.prune(100).await.unwrap(), 0);
    let left = s
        .metric_values(
            "t",
            &Metric::Aws(AwsMetric::NumDisconnects),
            0,
            1000,
            &PageRequest::default(),
        )
        .await
        .unwrap();
    let times: Vec<i64> = left.items.iter().map(|d| d.timestamp).collect();
    assert_eq!(times, [100, 125, 150, 175]);
    let last = s.last_reports().await.unwrap();
    assert_eq!(last[0].report_id, 19);

    // A redelivery of a pruned report is stored again: dedup only spans retention.
    assert_eq!(
        s.insert_reports(&[report("t", 0, 500, vec![])])
            .await
            .unwrap(),
        1
    );
}

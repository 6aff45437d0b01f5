//! The registry service (`fleetward_service::registry`) over a real SQLite store in a temporary
//! data directory: AWS semantics of things, groups, certificates, principals and policies.

use std::collections::BTreeMap;
use std::sync::Arc;

use fleetward_core::aws::{ArnScope, Paging};
use fleetward_service::pki::Ca;
use fleetward_service::registry as reg;
use fleetward_service::{Ctx, ServiceError};
use fleetward_store::prelude::*;
use fleetward_store::sqlite::SqliteStore;
use fleetward_store::{CaCertificate, CertStatus};

pub struct Env {
    pub store: Arc<SqliteStore>,
    pub ca: Arc<Ca>,
    pub ctx: Ctx,
    _dir: tempfile::TempDir,
}

/// A data directory of its own: a SQLite store and Fleetward's CA, registered in the store as
/// `fleetward serve` registers it, and the service context over both.
pub async fn env() -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("fleetward.db"))
            .await
            .expect("store"),
    );
    let (ca, _) = Ca::load_or_create(&dir.path().join("ca")).expect("ca");
    store
        .insert_ca(&CaCertificate {
            id: ca.facts().id.clone(),
            pem: ca.pem().to_owned(),
            status: CertStatus::Active,
            created_at: 1,
        })
        .await
        .expect("ca row");
    let ca = Arc::new(ca);
    let ctx = Ctx::new(store.clone()).with_ca(ca.clone());
    Env {
        store,
        ca,
        ctx,
        _dir: dir,
    }
}

impl Env {
    pub fn s(&self) -> &dyn Store {
        self.store.as_ref()
    }
}

fn name(e: &ServiceError) -> &'static str {
    e.name()
}

fn thing_req(name: &str, attrs: &[(&str, &str)]) -> reg::CreateThingRequest {
    reg::CreateThingRequest {
        thing_name: name.into(),
        attribute_payload: Some(reg::AttributePayload {
            attributes: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            merge: None,
        }),
        ..Default::default()
    }
}

fn group_req(name: &str, parent: Option<&str>) -> reg::CreateThingGroupRequest {
    reg::CreateThingGroupRequest {
        thing_group_name: name.into(),
        parent_group_name: parent.map(Into::into),
        ..Default::default()
    }
}

fn member(group: &str, thing: &str) -> reg::ThingGroupMembershipRequest {
    reg::ThingGroupMembershipRequest {
        thing_group_name: Some(group.into()),
        thing_name: Some(thing.into()),
        ..Default::default()
    }
}

fn page(max: u32, token: Option<String>) -> Paging {
    Paging {
        next_token: token,
        max_results: Some(max),
    }
}

#[tokio::test]
async fn things_follow_aws_semantics() {
    let e = env().await;
    let (s, ctx) = (e.s(), &e.ctx);

    let created = reg::create_thing(ctx, &thing_req("cam-1", &[("site", "lyon")]))
        .await
        .unwrap();
    assert_eq!(created.thing_name, "cam-1");
    assert_eq!(
        created.thing_arn,
        "arn:aws:iot:us-east-1:000000000000:thing/cam-1"
    );
    assert_eq!(created.thing_id.len(), 36);

    // Same configuration again: success, same id. Different configuration: conflict.
    let again = reg::create_thing(ctx, &thing_req("cam-1", &[("site", "lyon")]))
        .await
        .unwrap();
    assert_eq!(again, created);
    let err = reg::create_thing(ctx, &thing_req("cam-1", &[("site", "paris")]))
        .await
        .unwrap_err();
    assert_eq!(name(&err), "ResourceAlreadyExistsException");

    // Validation by the model's patterns and AWS's quota.
    for bad in [
        thing_req("bad name", &[]),
        thing_req("", &[]),
        thing_req("x", &[("bad key!", "v")]),
        thing_req("x", &[("k", "bad value")]),
        thing_req("x", &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]),
    ] {
        let err = reg::create_thing(ctx, &bad).await.unwrap_err();
        assert_eq!(name(&err), "InvalidRequestException", "{bad:?}");
    }
    let typed = reg::CreateThingRequest {
        thing_type_name: Some("camera".into()),
        ..thing_req("cam-9", &[])
    };
    assert_eq!(
        name(&reg::create_thing(ctx, &typed).await.unwrap_err()),
        "ResourceNotFoundException"
    );

    let d = reg::describe_thing(ctx, "cam-1").await.unwrap();
    assert_eq!(d.default_client_id, "cam-1");
    assert_eq!(d.thing_id, created.thing_id);
    assert_eq!(d.version, 1);
    assert_eq!(d.attributes["site"], "lyon");
    assert_eq!(
        name(&reg::describe_thing(ctx, "nope").await.unwrap_err()),
        "ResourceNotFoundException"
    );

    // Listing: paging, and an attribute filter that pages across the store's pages.
    for i in 0..7 {
        let site = if i % 2 == 0 { "lyon" } else { "paris" };
        reg::create_thing(ctx, &thing_req(&format!("dev-{i}"), &[("site", site)]))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let p = reg::list_things(
            ctx,
            &reg::ListThingsRequest {
                paging: page(3, token),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(p.things.len() <= 3);
        names.extend(p.things.into_iter().map(|t| t.thing_name));
        token = p.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], "cam-1");

    let mut lyon = Vec::new();
    let mut token = None;
    loop {
        let p = reg::list_things(
            ctx,
            &reg::ListThingsRequest {
                paging: page(2, token),
                attribute_name: Some("site".into()),
                attribute_value: Some("lyon".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(p.things.len() <= 2);
        lyon.extend(p.things.into_iter().map(|t| t.thing_name));
        token = p.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(lyon, ["cam-1", "dev-0", "dev-2", "dev-4", "dev-6"]);
    let prefix = reg::list_things(
        ctx,
        &reg::ListThingsRequest {
            attribute_name: Some("site".into()),
            attribute_value: Some("par".into()),
            use_prefix_attribute_value: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(prefix.things.len(), 3);
    let typed = reg::list_things(
        ctx,
        &reg::ListThingsRequest {
            thing_type_name: Some("camera".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(typed.things.is_empty());
    for bad in [
        reg::ListThingsRequest {
            paging: page(0, None),
            ..Default::default()
        },
        reg::ListThingsRequest {
            paging: page(251, None),
            ..Default::default()
        },
        reg::ListThingsRequest {
            paging: Paging {
                next_token: Some("zz".into()),
                max_results: None,
            },
            ..Default::default()
        },
        reg::ListThingsRequest {
            attribute_value: Some("lyon".into()),
            ..Default::default()
        },
    ] {
        let err = reg::list_things(ctx, &bad).await.unwrap_err();
        assert_eq!(name(&err), "InvalidRequestException", "{bad:?}");
    }

    // DeleteThing: a missing thing is success; a version mismatch conflicts; principals
    // attached refuse.
    reg::delete_thing(ctx, "never-was", None).await.unwrap();
    assert_eq!(
        name(&reg::delete_thing(ctx, "dev-0", Some(7)).await.unwrap_err()),
        "VersionConflictException"
    );
    reg::delete_thing(ctx, "dev-0", Some(1)).await.unwrap();
    assert!(s.get_thing("dev-0").await.unwrap().is_none());

    let cert = reg::create_keys_and_certificate(ctx, None, true)
        .await
        .unwrap();
    reg::attach_thing_principal(ctx, "cam-1", &cert.certificate_arn, None)
        .await
        .unwrap();
    let err = reg::delete_thing(ctx, "cam-1", None).await.unwrap_err();
    assert_eq!(name(&err), "InvalidRequestException");
    assert!(err.to_string().contains("still attached"), "{err}");
    reg::detach_thing_principal(ctx, "cam-1", &cert.certificate_arn)
        .await
        .unwrap();
    reg::delete_thing(ctx, "cam-1", None).await.unwrap();
}

#[tokio::test]
async fn thing_groups_hierarchies_and_memberships() {
    let e = env().await;
    let (scope, ctx) = (&ArnScope::default(), &e.ctx);

    let root = reg::create_thing_group(ctx, &group_req("site", None))
        .await
        .unwrap();
    assert_eq!(
        root.thing_group_arn,
        "arn:aws:iot:us-east-1:000000000000:thinggroup/site"
    );
    assert_eq!(
        reg::create_thing_group(ctx, &group_req("site", None))
            .await
            .unwrap(),
        root
    );
    let err = reg::create_thing_group(ctx, &group_req("site", Some("site")))
        .await
        .unwrap_err();
    assert_eq!(name(&err), "ResourceAlreadyExistsException");
    let err = reg::create_thing_group(ctx, &group_req("orphan", Some("nope")))
        .await
        .unwrap_err();
    assert_eq!(name(&err), "InvalidRequestException");
    let with_attrs = reg::CreateThingGroupRequest {
        thing_group_properties: Some(reg::ThingGroupProperties {
            thing_group_description: None,
            attribute_payload: Some(reg::AttributePayload {
                attributes: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
                merge: None,
            }),
        }),
        ..group_req("attrs", None)
    };
    assert_eq!(
        name(&reg::create_thing_group(ctx, &with_attrs).await.unwrap_err()),
        "InvalidRequestException"
    );

    // site > floor-1 > room-a … down to the seventh level; an eighth is refused.
    let chain = ["floor-1", "room-a", "l4", "l5", "l6", "l7"];
    let mut parent = "site";
    for g in chain {
        let req = reg::CreateThingGroupRequest {
            thing_group_properties: Some(reg::ThingGroupProperties {
                thing_group_description: Some(format!("level {g}")),
                attribute_payload: None,
            }),
            ..group_req(g, Some(parent))
        };
        reg::create_thing_group(ctx, &req).await.unwrap();
        parent = g;
    }
    let err = reg::create_thing_group(ctx, &group_req("l8", Some("l7")))
        .await
        .unwrap_err();
    assert_eq!(name(&err), "InvalidRequestException");
    reg::create_thing_group(ctx, &group_req("floor-2", Some("site")))
        .await
        .unwrap();
    reg::create_thing_group(ctx, &group_req("fleet", None))
        .await
        .unwrap();

    let d = reg::describe_thing_group(ctx, "room-a").await.unwrap();
    assert_eq!(
        d.thing_group_metadata.parent_group_name.as_deref(),
        Some("floor-1")
    );
    let ancestry: Vec<&str> = d
        .thing_group_metadata
        .root_to_parent_thing_groups
        .iter()
        .map(|g| g.group_name.as_str())
        .collect();
    assert_eq!(ancestry, ["site", "floor-1"]);
    assert_eq!(
        d.thing_group_properties.thing_group_description.as_deref(),
        Some("level room-a")
    );
    assert_eq!(
        name(&reg::describe_thing_group(ctx, "nope").await.unwrap_err()),
        "ResourceNotFoundException"
    );

    let list = |parent: Option<&str>, prefix: Option<&str>, recursive: bool| {
        let req = reg::ListThingGroupsRequest {
            paging: Paging::default(),
            parent_group: parent.map(Into::into),
            name_prefix_filter: prefix.map(Into::into),
            recursive: Some(recursive),
        };
        async move {
            reg::list_thing_groups(ctx, &req).await.map(|r| {
                r.thing_groups
                    .into_iter()
                    .map(|g| g.group_name)
                    .collect::<Vec<_>>()
            })
        }
    };
    assert_eq!(list(None, None, false).await.unwrap().len(), 9);
    assert_eq!(
        list(Some("site"), None, false).await.unwrap(),
        ["floor-1", "floor-2"]
    );
    assert_eq!(
        list(Some("site"), None, true).await.unwrap(),
        ["floor-1", "floor-2", "l4", "l5", "l6", "l7", "room-a"]
    );
    assert_eq!(
        list(Some("site"), Some("l"), true).await.unwrap(),
        ["l4", "l5", "l6", "l7"]
    );
    assert_eq!(
        list(None, Some("floor"), false).await.unwrap(),
        ["floor-1", "floor-2"]
    );
    assert_eq!(
        name(&list(Some("nope"), None, false).await.unwrap_err()),
        "ResourceNotFoundException"
    );
    // Recursive listing pages in memory with its own tokens.
    let first = reg::list_thing_groups(
        ctx,
        &reg::ListThingGroupsRequest {
            paging: page(4, None),
            parent_group: Some("site".into()),
            recursive: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(first.thing_groups.len(), 4);
    let second = reg::list_thing_groups(
        ctx,
        &reg::ListThingGroupsRequest {
            paging: page(4, first.next_token.clone()),
            parent_group: Some("site".into()),
            recursive: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(second.thing_groups.len(), 3);
    assert!(second.next_token.is_none());

    // Memberships, by name or by ARN.
    for t in ["cam-1", "cam-2"] {
        reg::create_thing(ctx, &thing_req(t, &[])).await.unwrap();
    }
    reg::add_thing_to_thing_group(ctx, &member("room-a", "cam-1"))
        .await
        .unwrap();
    reg::add_thing_to_thing_group(ctx, &member("room-a", "cam-1"))
        .await
        .unwrap();
    let by_arn = reg::ThingGroupMembershipRequest {
        thing_group_arn: Some(reg::thing_group_arn(scope, "floor-2")),
        thing_arn: Some(reg::thing_arn(scope, "cam-2")),
        ..Default::default()
    };
    reg::add_thing_to_thing_group(ctx, &by_arn).await.unwrap();
    reg::add_thing_to_thing_group(ctx, &member("fleet", "cam-1"))
        .await
        .unwrap();
    // One group per hierarchy: cam-1 is in room-a, under site.
    let err = reg::add_thing_to_thing_group(ctx, &member("floor-2", "cam-1"))
        .await
        .unwrap_err();
    assert_eq!(name(&err), "InvalidRequestException");
    for (req, want) in [
        (member("nope", "cam-1"), "ResourceNotFoundException"),
        (member("fleet", "nope"), "ResourceNotFoundException"),
        (
            reg::ThingGroupMembershipRequest {
                thing_name: Some("cam-1".into()),
                ..Default::default()
            },
            "InvalidRequestException",
        ),
        (
            reg::ThingGroupMembershipRequest {
                thing_group_arn: Some("arn:aws:iot:eu-west-1:111111111111:thinggroup/fleet".into()),
                thing_name: Some("cam-1".into()),
                ..Default::default()
            },
            "InvalidRequestException",
        ),
        (
            reg::ThingGroupMembershipRequest {
                thing_group_name: Some("fleet".into()),
                thing_group_arn: Some(reg::thing_group_arn(scope, "site")),
                thing_name: Some("cam-1".into()),
                ..Default::default()
            },
            "InvalidRequestException",
        ),
    ] {
        let err = reg::add_thing_to_thing_group(ctx, &req).await.unwrap_err();
        assert_eq!(name(&err), want, "{req:?}");
    }

    let direct = reg::list_things_in_thing_group(ctx, "site", false, &Paging::default())
        .await
        .unwrap();
    assert!(direct.things.is_empty());
    let all = reg::list_things_in_thing_group(ctx, "site", true, &Paging::default())
        .await
        .unwrap();
    assert_eq!(all.things, ["cam-1", "cam-2"]);
    assert_eq!(
        name(
            &reg::list_things_in_thing_group(ctx, "nope", false, &Paging::default())
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );

    reg::remove_thing_from_thing_group(ctx, &member("room-a", "cam-1"))
        .await
        .unwrap();
    reg::remove_thing_from_thing_group(ctx, &member("room-a", "cam-1"))
        .await
        .unwrap();
    assert_eq!(
        name(
            &reg::remove_thing_from_thing_group(ctx, &member("room-a", "nope"))
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );
    // Now cam-1 may join another group of that hierarchy.
    reg::add_thing_to_thing_group(ctx, &member("floor-2", "cam-1"))
        .await
        .unwrap();

    // At most ten groups per thing.
    for i in 0..8 {
        let g = format!("solo-{i}");
        reg::create_thing_group(ctx, &group_req(&g, None))
            .await
            .unwrap();
        reg::add_thing_to_thing_group(ctx, &member(&g, "cam-1"))
            .await
            .unwrap();
    }
    reg::create_thing_group(ctx, &group_req("solo-x", None))
        .await
        .unwrap();
    let err = reg::add_thing_to_thing_group(ctx, &member("solo-x", "cam-1"))
        .await
        .unwrap_err();
    assert_eq!(name(&err), "InvalidRequestException");
}

#[tokio::test]
async fn certificates_keys_registration_and_status() {
    let e = env().await;
    let ctx = &e.ctx;

    let inactive = reg::create_keys_and_certificate(ctx, None, false)
        .await
        .unwrap();
    assert_eq!(inactive.certificate_id.len(), 64);
    assert!(
        inactive
            .certificate_pem
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(inactive.key_pair.private_key.contains("PRIVATE KEY"));
    assert!(
        inactive
            .key_pair
            .public_key
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    assert!(!format!("{:?}", inactive.key_pair).contains("PRIVATE"));
    let d = reg::describe_certificate(ctx, &inactive.certificate_id)
        .await
        .unwrap()
        .certificate_description;
    assert_eq!(d.status, "INACTIVE");
    assert_eq!(d.certificate_arn, inactive.certificate_arn);
    assert_eq!(
        d.ca_certificate_id.as_deref(),
        Some(e.ca.facts().id.as_str())
    );
    assert_eq!(d.owned_by, "000000000000");
    assert_eq!(d.certificate_mode, "DEFAULT");
    let v = d.validity.expect("validity");
    assert!(v.not_before < v.not_after);
    // Upper-case and 0x-less ids name the same certificate; malformed ids are invalid.
    reg::describe_certificate(ctx, &inactive.certificate_id.to_uppercase())
        .await
        .unwrap();
    for (id, want) in [
        ("abc", "InvalidRequestException"),
        (&*"g".repeat(64), "InvalidRequestException"),
        (&*"0".repeat(64), "ResourceNotFoundException"),
    ] {
        let err = reg::describe_certificate(ctx, id).await.unwrap_err();
        assert_eq!(name(&err), want, "{id}");
    }

    let active = reg::create_keys_and_certificate(ctx, None, true)
        .await
        .unwrap();
    assert_eq!(
        reg::describe_certificate(ctx, &active.certificate_id)
            .await
            .unwrap()
            .certificate_description
            .status,
        "ACTIVE"
    );

    // UpdateCertificate: enum checked, REVOKED is final.
    reg::update_certificate(ctx, &inactive.certificate_id, "ACTIVE")
        .await
        .unwrap();
    for bad in ["active", "PENDING_TRANSFER", "DELETED"] {
        let err = reg::update_certificate(ctx, &inactive.certificate_id, bad)
            .await
            .unwrap_err();
        assert_eq!(name(&err), "InvalidRequestException", "{bad}");
    }
    reg::update_certificate(ctx, &inactive.certificate_id, "REVOKED")
        .await
        .unwrap();
    reg::update_certificate(ctx, &inactive.certificate_id, "REVOKED")
        .await
        .unwrap();
    let err = reg::update_certificate(ctx, &inactive.certificate_id, "ACTIVE")
        .await
        .unwrap_err();
    assert_eq!(name(&err), "CertificateStateException");
    assert_eq!(
        name(
            &reg::update_certificate(ctx, &"1".repeat(64), "ACTIVE")
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );

    // RegisterCertificate: signed by the registered CA, with or without caCertificatePem.
    let own = e.ca.issue_device("sensor-1").unwrap();
    let registered = reg::register_certificate(
        ctx,
        &reg::RegisterCertificateRequest {
            certificate_pem: own.cert_pem.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(registered.certificate_id, own.facts.id);
    let d = reg::describe_certificate(ctx, &registered.certificate_id)
        .await
        .unwrap()
        .certificate_description;
    assert_eq!(d.status, "INACTIVE");
    let dup = reg::register_certificate(
        ctx,
        &reg::RegisterCertificateRequest {
            certificate_pem: own.cert_pem.clone(),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(name(&dup), "ResourceAlreadyExistsException");
    let other = e.ca.issue_device("sensor-2").unwrap();
    let with_ca = reg::register_certificate(
        ctx,
        &reg::RegisterCertificateRequest {
            certificate_pem: other.cert_pem.clone(),
            ca_certificate_pem: Some(e.ca.pem().to_owned()),
            status: Some("ACTIVE".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        reg::describe_certificate(ctx, &with_ca.certificate_id)
            .await
            .unwrap()
            .certificate_description
            .status,
        "ACTIVE"
    );
    let set_active = e.ca.issue_device("sensor-3").unwrap();
    let r = reg::register_certificate(
        ctx,
        &reg::RegisterCertificateRequest {
            certificate_pem: set_active.cert_pem.clone(),
            set_as_active: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        reg::describe_certificate(ctx, &r.certificate_id)
            .await
            .unwrap()
            .certificate_description
            .status,
        "ACTIVE"
    );

    // A foreign CA, garbage, a CA certificate, a bad status.
    let foreign_dir = tempfile::tempdir().unwrap();
    let (foreign, _) = Ca::load_or_create(foreign_dir.path()).unwrap();
    let stranger = foreign.issue_device("stranger").unwrap();
    let cases = [
        (
            reg::RegisterCertificateRequest {
                certificate_pem: stranger.cert_pem.clone(),
                ..Default::default()
            },
            "CertificateValidationException",
        ),
        (
            reg::RegisterCertificateRequest {
                certificate_pem: stranger.cert_pem.clone(),
                ca_certificate_pem: Some(foreign.pem().to_owned()),
                ..Default::default()
            },
            "CertificateValidationException",
        ),
        (
            reg::RegisterCertificateRequest {
                certificate_pem: stranger.cert_pem.clone(),
                ca_certificate_pem: Some(e.ca.pem().to_owned()),
                ..Default::default()
            },
            "CertificateValidationException",
        ),
        (
            reg::RegisterCertificateRequest {
                certificate_pem: "not a certificate".into(),
                ..Default::default()
            },
            "CertificateValidationException",
        ),
        (
            reg::RegisterCertificateRequest {
                certificate_pem: e.ca.pem().to_owned(),
                ..Default::default()
            },
            "CertificateValidationException",
        ),
        (
            reg::RegisterCertificateRequest {
                certificate_pem: String::new(),
                ..Default::default()
            },
            "InvalidRequestException",
        ),
        (
            reg::RegisterCertificateRequest {
                certificate_pem: e.ca.issue_device("s4").unwrap().cert_pem,
                status: Some("REGISTER_INACTIVE".into()),
                ..Default::default()
            },
            "InvalidRequestException",
        ),
    ];
    for (req, want) in cases {
        let err = reg::register_certificate(ctx, &req).await.unwrap_err();
        assert_eq!(
            name(&err),
            want,
            "{}",
            &req.certificate_pem[..req.certificate_pem.len().min(40)]
        );
    }

    // ListCertificates: newest first by default, oldest first on request, paged either way.
    let collect = |ascending: bool| async move {
        let mut ids = Vec::new();
        let mut marker = None;
        loop {
            let p = reg::list_certificates(
                ctx,
                &reg::MarkerPaging {
                    marker,
                    page_size: Some(2),
                    ascending_order: Some(ascending),
                },
            )
            .await
            .unwrap();
            assert!(p.certificates.len() <= 2);
            ids.extend(p.certificates.into_iter().map(|c| c.certificate_id));
            marker = p.next_marker;
            if marker.is_none() {
                return ids;
            }
        }
    };
    let desc = collect(false).await;
    let mut asc = collect(true).await;
    assert_eq!(desc.len(), 5);
    asc.reverse();
    assert_eq!(asc, desc);
    let bad = reg::list_certificates(
        ctx,
        &reg::MarkerPaging {
            page_size: Some(0),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(name(&bad), "InvalidRequestException");
}

#[tokio::test]
async fn principals_and_policies() {
    let e = env().await;
    let (s, scope, ctx) = (e.s(), &ArnScope::default(), &e.ctx);
    reg::create_thing(ctx, &thing_req("cam-1", &[]))
        .await
        .unwrap();
    let certs: Vec<_> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(
                reg::create_keys_and_certificate(ctx, None, true)
                    .await
                    .unwrap(),
            );
        }
        v
    };
    for c in &certs {
        reg::attach_thing_principal(ctx, "cam-1", &c.certificate_arn, None)
            .await
            .unwrap();
    }
    reg::attach_thing_principal(
        ctx,
        "cam-1",
        &certs[0].certificate_arn,
        Some("NON_EXCLUSIVE_THING"),
    )
    .await
    .unwrap();
    let first = reg::list_thing_principals(ctx, "cam-1", &page(2, None))
        .await
        .unwrap();
    assert_eq!(first.principals.len(), 2);
    let rest = reg::list_thing_principals(ctx, "cam-1", &page(2, first.next_token))
        .await
        .unwrap();
    assert_eq!(rest.principals.len(), 1);
    assert!(rest.next_token.is_none());
    let mut all: Vec<String> = first
        .principals
        .into_iter()
        .chain(rest.principals)
        .collect();
    all.sort();
    let mut want: Vec<String> = certs.iter().map(|c| c.certificate_arn.clone()).collect();
    want.sort();
    assert_eq!(all, want);

    let missing_cert = reg::certificate_arn(scope, &"a".repeat(64));
    for (thing, principal, kind, want) in [
        (
            "nope",
            certs[0].certificate_arn.as_str(),
            None,
            "ResourceNotFoundException",
        ),
        (
            "cam-1",
            missing_cert.as_str(),
            None,
            "ResourceNotFoundException",
        ),
        (
            "cam-1",
            "us-east-1:cognito-id",
            None,
            "InvalidRequestException",
        ),
        (
            "cam-1",
            "arn:aws:iot:us-east-1:999999999999:cert/0000",
            None,
            "InvalidRequestException",
        ),
        (
            "cam-1",
            certs[0].certificate_arn.as_str(),
            Some("EXCLUSIVE_THING"),
            "InvalidRequestException",
        ),
        (
            "cam-1",
            certs[0].certificate_arn.as_str(),
            Some("SHARED"),
            "InvalidRequestException",
        ),
    ] {
        let err = reg::attach_thing_principal(ctx, thing, principal, kind)
            .await
            .unwrap_err();
        assert_eq!(name(&err), want, "{thing} {principal} {kind:?}");
    }
    assert_eq!(
        name(
            &reg::list_thing_principals(ctx, "nope", &Paging::default())
                .await
                .unwrap_err()
        ),
        "ResourceNotFoundException"
    );

    // Policies: the document must be one the broker evaluates exactly.
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#;
    let created = reg::create_policy(
        ctx,
        &reg::CreatePolicyRequest {
            policy_name: "connect.any@v1".into(),
            policy_document: doc.into(),
            tags: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(created.policy_version_id, "1");
    assert_eq!(
        created.policy_arn,
        "arn:aws:iot:us-east-1:000000000000:policy/connect.any@v1"
    );
    for (pname, document, want) in [
        ("connect.any@v1", doc, "ResourceAlreadyExistsException"),
        ("bad name", doc, "InvalidRequestException"),
        ("p2", "{not json", "MalformedPolicyException"),
        (
            "p2",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"iot:Connect","Resource":"*"}]}"#,
            "MalformedPolicyException",
        ),
    ] {
        let err = reg::create_policy(
            ctx,
            &reg::CreatePolicyRequest {
                policy_name: pname.into(),
                policy_document: document.into(),
                tags: None,
            },
        )
        .await
        .unwrap_err();
        assert_eq!(name(&err), want, "{pname} {document}");
    }
    let got = reg::get_policy(ctx, "connect.any@v1").await.unwrap();
    assert_eq!(got.policy_document, doc);
    assert_eq!(got.default_version_id, "1");
    assert_eq!(
        name(&reg::get_policy(ctx, "nope").await.unwrap_err()),
        "ResourceNotFoundException"
    );

    for i in 0..11 {
        reg::create_policy(
            ctx,
            &reg::CreatePolicyRequest {
                policy_name: format!("p-{i:02}"),
                policy_document: doc.into(),
                tags: None,
            },
        )
        .await
        .unwrap();
    }
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let p = reg::list_policies(
            ctx,
            &reg::MarkerPaging {
                marker,
                page_size: Some(5),
                ascending_order: Some(true),
            },
        )
        .await
        .unwrap();
        names.extend(p.policies.into_iter().map(|p| p.policy_name));
        marker = p.next_marker;
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(names.len(), 12);
    assert_eq!(names[0], "connect.any@v1");
    let newest_first = reg::list_policies(ctx, &reg::MarkerPaging::default())
        .await
        .unwrap();
    assert_eq!(newest_first.policies.len(), 12);
    assert_eq!(newest_first.policies[11].policy_name, "connect.any@v1");

    // AttachPolicy: ten per certificate, idempotent, both must exist.
    let target = &certs[0].certificate_arn;
    reg::attach_policy(ctx, "connect.any@v1", target)
        .await
        .unwrap();
    reg::attach_policy(ctx, "connect.any@v1", target)
        .await
        .unwrap();
    for i in 0..9 {
        reg::attach_policy(ctx, &format!("p-{i:02}"), target)
            .await
            .unwrap();
    }
    assert_eq!(
        s.principal_policies(&certs[0].certificate_id)
            .await
            .unwrap()
            .len(),
        10
    );
    let err = reg::attach_policy(ctx, "p-09", target).await.unwrap_err();
    assert_eq!(name(&err), "LimitExceededException");
    assert!(matches!(err, ServiceError::LimitExceeded(_)));
    for (policy, target, want) in [
        (
            "nope",
            certs[1].certificate_arn.as_str(),
            "ResourceNotFoundException",
        ),
        ("p-00", missing_cert.as_str(), "ResourceNotFoundException"),
        (
            "p-00",
            "arn:aws:iot:us-east-1:000000000000:thinggroup/site",
            "InvalidRequestException",
        ),
    ] {
        let err = reg::attach_policy(ctx, policy, target).await.unwrap_err();
        assert_eq!(name(&err), want, "{policy} {target}");
    }
}

#[tokio::test]
async fn group_deletion_and_reverse_listings() {
    let e = env().await;
    let (scope, ctx) = (&ArnScope::default(), &e.ctx);
    reg::create_thing_group(ctx, &group_req("site", None))
        .await
        .unwrap();
    reg::create_thing_group(ctx, &group_req("floor", Some("site")))
        .await
        .unwrap();
    reg::create_thing(ctx, &thing_req("cam-1", &[]))
        .await
        .unwrap();
    reg::add_thing_to_thing_group(ctx, &member("floor", "cam-1"))
        .await
        .unwrap();
    let groups = reg::list_thing_groups_for_thing(ctx, "cam-1", &Paging::default())
        .await
        .unwrap();
    assert_eq!(groups.thing_groups[0].group_name, "floor");

    let err = reg::delete_thing_group(ctx, "site", None)
        .await
        .unwrap_err();
    assert_eq!(name(&err), "InvalidRequestException");
    let err = reg::delete_thing_group(ctx, "floor", Some(5))
        .await
        .unwrap_err();
    assert_eq!(name(&err), "VersionConflictException");
    reg::delete_thing_group(ctx, "floor", Some(1))
        .await
        .unwrap();
    reg::delete_thing_group(ctx, "floor", None).await.unwrap();
    reg::delete_thing_group(ctx, "site", None).await.unwrap();
    assert!(
        reg::list_thing_groups_for_thing(ctx, "cam-1", &Paging::default())
            .await
            .unwrap()
            .thing_groups
            .is_empty()
    );

    let cert = reg::create_keys_and_certificate(ctx, None, true)
        .await
        .unwrap();
    reg::attach_thing_principal(ctx, "cam-1", &cert.certificate_arn, None)
        .await
        .unwrap();
    let things = reg::list_principal_things(ctx, &cert.certificate_arn, &Paging::default())
        .await
        .unwrap();
    assert_eq!(things.things, ["cam-1"]);
    let policies =
        reg::list_attached_policies(ctx, &cert.certificate_arn, &reg::MarkerPaging::default())
            .await
            .unwrap();
    assert!(policies.policies.is_empty());
    let err = reg::list_attached_policies(
        ctx,
        &reg::thing_arn(scope, "cam-1"),
        &reg::MarkerPaging::default(),
    )
    .await
    .unwrap_err();
    assert_eq!(name(&err), "InvalidRequestException");
}

/// Every edit that can end a live session or change what it may do pokes
/// `Changes::identity_changed` with the certificate or thing it touched, after it committed;
/// a refused edit pokes nothing.
#[tokio::test]
async fn identity_edits_poke_the_broker_with_what_they_touched() {
    use fleetward_service::{CountChanges, IdentityChange};
    let e = env().await;
    let changes = Arc::new(CountChanges::default());
    let ctx = &e.ctx.clone().with_changes(changes.clone());
    let seen = || changes.identity.lock().unwrap().clone();

    reg::create_thing(ctx, &thing_req("cam-1", &[]))
        .await
        .unwrap();
    let cert = reg::create_keys_and_certificate(ctx, None, true)
        .await
        .unwrap();
    reg::attach_thing_principal(ctx, "cam-1", &cert.certificate_arn, None)
        .await
        .unwrap();
    assert_eq!(seen(), [], "creating and attaching end no session");

    let id = cert.certificate_id.clone();
    reg::update_certificate(ctx, &id, "INACTIVE").await.unwrap();
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#;
    reg::create_policy(
        ctx,
        &reg::CreatePolicyRequest {
            policy_name: "p".into(),
            policy_document: doc.into(),
            tags: None,
        },
    )
    .await
    .unwrap();
    reg::attach_policy(ctx, "p", &cert.certificate_arn)
        .await
        .unwrap();
    reg::detach_thing_principal(ctx, "cam-1", &cert.certificate_arn)
        .await
        .unwrap();
    reg::delete_thing(ctx, "cam-1", None).await.unwrap();
    assert_eq!(
        seen(),
        [
            IdentityChange::Certificate(id.clone()),
            IdentityChange::Certificate(id.clone()),
            IdentityChange::Certificate(id.clone()),
            IdentityChange::Thing("cam-1".into()),
        ]
    );

    reg::update_certificate(ctx, &id, "BOGUS")
        .await
        .unwrap_err();
    assert_eq!(seen().len(), 4, "a refused edit poked the broker");

    // Detaching a policy pokes once; detaching what is not attached does not.
    reg::detach_policy(ctx, "p", &cert.certificate_arn)
        .await
        .unwrap();
    reg::detach_policy(ctx, "p", &cert.certificate_arn)
        .await
        .unwrap();
    assert_eq!(seen().len(), 5);
    assert_eq!(seen()[4], IdentityChange::Certificate(id.clone()));
}

#[tokio::test]
async fn policies_are_deleted_only_when_detached_and_list_their_targets() {
    let e = env().await;
    let ctx = &e.ctx;
    let doc = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}"#;
    reg::create_policy(
        ctx,
        &reg::CreatePolicyRequest {
            policy_name: "p".into(),
            policy_document: doc.into(),
            tags: None,
        },
    )
    .await
    .unwrap();
    let cert = reg::create_keys_and_certificate(ctx, None, true)
        .await
        .unwrap();
    reg::attach_policy(ctx, "p", &cert.certificate_arn)
        .await
        .unwrap();
    let paging = reg::MarkerPaging::default();
    let t = reg::list_targets_for_policy(ctx, "p", &paging)
        .await
        .unwrap();
    assert_eq!(t.targets, std::slice::from_ref(&cert.certificate_arn));

    let err = reg::delete_policy(ctx, "p").await.unwrap_err();
    assert_eq!(err.name(), "DeleteConflictException", "{err}");
    assert!(reg::get_policy(ctx, "p").await.is_ok());

    reg::detach_policy(ctx, "p", &cert.certificate_arn)
        .await
        .unwrap();
    reg::delete_policy(ctx, "p").await.unwrap();
    let err = reg::get_policy(ctx, "p").await.unwrap_err();
    assert_eq!(err.name(), "ResourceNotFoundException");
    let err = reg::delete_policy(ctx, "p").await.unwrap_err();
    assert_eq!(err.name(), "ResourceNotFoundException");
    let err = reg::list_targets_for_policy(ctx, "p", &paging)
        .await
        .unwrap_err();
    assert_eq!(err.name(), "ResourceNotFoundException");
    let err = reg::detach_policy(ctx, "p", "not-an-arn")
        .await
        .unwrap_err();
    assert_eq!(err.name(), "InvalidRequestException");
}

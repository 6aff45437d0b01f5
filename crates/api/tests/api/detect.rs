//! The Detect API through the router: every route, its errors (bad enum, unknown resource,
//! version conflict, limits), SigV4 authentication (missing, bad, unknown key, clock skew,
//! tampered body), throttling and `/openapi.json`.

use std::time::{Duration, SystemTime};

use fleetward_proto::decode::{AwsMetric, Datapoint, Metric, MetricValue};
use fleetward_store::{
    CloudDatapoint, NewViolation, Store, StoredReport, ViolationEvent, ViolationEventType,
};
use fleetward_testkit::sigv4::{Client, Key};
use serde_json::{Value, json};

use crate::support::{arn, server, server_with};

fn enc(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

fn static_profile() -> Value {
    json!({
        "securityProfileDescription": "ports",
        "behaviors": [{
            "name": "few-ports",
            "metric": "aws:num-listening-tcp-ports",
            "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 5},
                         "consecutiveDatapointsToAlarm": 1, "consecutiveDatapointsToClear": 1}
        }]
    })
}

#[tokio::test]
async fn security_profile_lifecycle_with_versions() {
    let (_s, c) = server().await;
    let r = c
        .call("POST", "/security-profiles/ports", Some(static_profile()))
        .await;
    assert_eq!(
        r.ok(),
        &json!({"securityProfileName": "ports", "securityProfileArn": arn("securityprofile/ports")})
    );
    let dup = c
        .call("POST", "/security-profiles/ports", Some(static_profile()))
        .await;
    dup.error(409, "ResourceAlreadyExistsException");
    assert_eq!(dup.body["resourceId"], "ports");
    assert_eq!(dup.body["resourceArn"], arn("securityprofile/ports"));
    assert_eq!(dup.request_id.as_deref().map(str::len), Some(36));

    let d = c.call("GET", "/security-profiles/ports", None).await;
    let d = d.ok();
    assert_eq!(d["version"], 1);
    assert_eq!(d["securityProfileDescription"], "ports");
    assert!(
        d["creationDate"].as_f64().unwrap() > 1.6e9,
        "epoch seconds: {d}"
    );

    // Update: only the description changes; behaviors stay.
    let u = c
        .call(
            "PATCH",
            "/security-profiles/ports?expectedVersion=1",
            Some(json!({"securityProfileDescription": "v2"})),
        )
        .await;
    let u = u.ok();
    assert_eq!(u["version"], 2);
    assert_eq!(u["securityProfileDescription"], "v2");
    assert_eq!(u["behaviors"][0]["name"], "few-ports");

    // A stale version conflicts, for update and delete.
    c.call(
        "PATCH",
        "/security-profiles/ports?expectedVersion=1",
        Some(json!({"deleteBehaviors": true})),
    )
    .await
    .error(409, "VersionConflictException");
    c.call("DELETE", "/security-profiles/ports?expectedVersion=1", None)
        .await
        .error(409, "VersionConflictException");

    // deleteBehaviors with behaviors is a contradiction.
    c.call(
        "PATCH",
        "/security-profiles/ports",
        Some(json!({"deleteBehaviors": true, "behaviors": []})),
    )
    .await
    .error(400, "InvalidRequestException");
    let u = c
        .call(
            "PATCH",
            "/security-profiles/ports",
            Some(json!({"deleteBehaviors": true})),
        )
        .await;
    assert_eq!(u.ok()["behaviors"], json!([]));

    let l = c.call("GET", "/security-profiles", None).await;
    assert_eq!(
        l.ok()["securityProfileIdentifiers"],
        json!([{"name": "ports", "arn": arn("securityprofile/ports")}])
    );

    c.call("DELETE", "/security-profiles/ports?expectedVersion=3", None)
        .await
        .ok();
    c.call("GET", "/security-profiles/ports", None)
        .await
        .error(404, "ResourceNotFoundException");
    c.call("PATCH", "/security-profiles/ports", Some(json!({})))
        .await
        .error(404, "ResourceNotFoundException");
    // Deleting what is gone succeeds (the model lists no ResourceNotFound for it).
    c.call("DELETE", "/security-profiles/ports", None)
        .await
        .ok();
}

#[tokio::test]
async fn validation_names_the_member_and_never_500s() {
    let (_s, c) = server().await;
    let m = c
        .call("GET", "/active-violations?verificationState=MAYBE", None)
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("'verificationState'"), "{m}");
    assert!(m.contains("TRUE_POSITIVE"), "{m}");

    let m = c
        .call("GET", "/security-profiles?maxResults=251", None)
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("'maxResults'"), "{m}");

    let m = c
        .call(
            "POST",
            "/custom-metric/temp",
            Some(json!({"metricType": "float", "clientRequestToken": "t1"})),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("'metricType'"), "{m}");

    let m = c
        .call(
            "POST",
            "/custom-metric/temp",
            Some(json!({"metricType": "number"})),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("'clientRequestToken'"), "{m}");

    let m = c
        .call("POST", "/security-profiles/bad%20name", Some(json!({})))
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("'securityProfileName'"), "{m}");

    let m = c
        .call(
            "POST",
            "/security-profiles/p",
            Some(json!({"securityProfileDescription": "x".repeat(1001)})),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("'securityProfileDescription'"), "{m}");

    // A malformed body, an unknown member and a behavior of the wrong shape.
    let r = c
        .send(
            "POST",
            "/security-profiles/p",
            c.sign(
                "POST",
                "/security-profiles/p",
                b"{not json",
                SystemTime::now(),
            ),
            b"{not json".to_vec(),
        )
        .await;
    r.error(400, "InvalidRequestException");
    let m = c
        .call(
            "POST",
            "/security-profiles/p",
            Some(json!({"behaviours": []})),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("behaviours"), "{m}");
    let m = c
        .call(
            "POST",
            "/security-profiles/p",
            Some(
                json!({"behaviors": [{"name": "b", "metric": "aws:num-listening-tcp-ports",
                "criteria": {"comparisonOperator": "bigger", "value": {"count": 1}}}]}),
            ),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("behaviors[0]"), "{m}");

    let m = c
        .call(
            "POST",
            "/security-profiles/p",
            Some(json!({"metricsExportConfig": {"mqttTopic": "t", "roleArn": "arn:aws:iam::000000000000:role/x"}})),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.starts_with("metricsExportConfig"), "{m}");
    let m = c
        .call(
            "POST",
            "/security-profiles/p",
            Some(json!({"alertTargets": {"SNS": {"alertTargetArn": "arn:aws:sns:us-east-1:000000000000:t", "roleArn": "short"}}})),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("roleArn"), "{m}");
    let m = c
        .call(
            "POST",
            "/security-profiles/p",
            Some(json!({"additionalMetricsToRetainV2": [{"metric": "aws:num-messages-sent", "metricDimension": {"dimensionName": "d", "operator": "AROUND"}}]})),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("metricDimension"), "{m}");
    let m = c
        .call(
            "GET",
            "/violation-events?startTime=yesterday&endTime=1",
            None,
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("'startTime'"), "{m}");
    let m = c
        .call("GET", "/violation-events", None)
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("2 validation errors"), "{m}");

    c.call("GET", "/no-such-operation", None)
        .await
        .error(404, "UnknownOperationException");
    // A known path with a method it does not serve.
    c.call("PUT", "/dimensions", None)
        .await
        .error(404, "UnknownOperationException");
}

#[tokio::test]
async fn targets_attach_detach_and_limits() {
    let (s, c) = server().await;
    s.store()
        .create_group(&fleetward_store::NewThingGroup {
            name: "floor".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    s.store()
        .create_group(&fleetward_store::NewThingGroup {
            name: "room".into(),
            parent: Some("floor".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    for i in 0..6 {
        c.call(
            "POST",
            &format!("/security-profiles/p{i}"),
            Some(static_profile()),
        )
        .await
        .ok();
    }
    let floor = arn("thinggroup/floor");
    let room = arn("thinggroup/room");
    let all = arn("all/things");
    for i in 0..5 {
        c.call(
            "PUT",
            &format!(
                "/security-profiles/p{i}/targets?securityProfileTargetArn={}",
                enc(&all)
            ),
            None,
        )
        .await
        .ok();
    }
    // A sixth profile on one target: LimitExceeded, HTTP 410.
    c.call(
        "PUT",
        &format!(
            "/security-profiles/p5/targets?securityProfileTargetArn={}",
            enc(&all)
        ),
        None,
    )
    .await
    .error(410, "LimitExceededException");
    // Re-attaching is not a sixth.
    c.call(
        "PUT",
        &format!(
            "/security-profiles/p0/targets?securityProfileTargetArn={}",
            enc(&all)
        ),
        None,
    )
    .await
    .ok();
    c.call(
        "PUT",
        &format!(
            "/security-profiles/p5/targets?securityProfileTargetArn={}",
            enc(&floor)
        ),
        None,
    )
    .await
    .ok();
    c.call(
        "PUT",
        &format!(
            "/security-profiles/p4/targets?securityProfileTargetArn={}",
            enc(&room)
        ),
        None,
    )
    .await
    .ok();
    c.call(
        "PUT",
        &format!(
            "/security-profiles/nope/targets?securityProfileTargetArn={}",
            enc(&all)
        ),
        None,
    )
    .await
    .error(404, "ResourceNotFoundException");
    c.call(
        "PUT",
        "/security-profiles/p0/targets?securityProfileTargetArn=arn%3Aaws%3Aiot%3Aus-east-1%3A0%3Athing%2Fx",
        None,
    )
    .await
    .error(400, "InvalidRequestException");
    c.call("PUT", "/security-profiles/p0/targets", None)
        .await
        .error(400, "InvalidRequestException");

    let t = c.call("GET", "/security-profiles/p4/targets", None).await;
    assert_eq!(
        t.ok()["securityProfileTargets"],
        json!([{"arn": all}, {"arn": room}])
    );
    let t = c
        .call("GET", "/security-profiles/p4/targets?maxResults=1", None)
        .await;
    let token = t.ok()["nextToken"].as_str().unwrap().to_owned();
    assert_eq!(t.ok()["securityProfileTargets"], json!([{"arn": all}]));
    let t = c
        .call(
            "GET",
            &format!("/security-profiles/p4/targets?maxResults=1&nextToken={token}"),
            None,
        )
        .await;
    assert_eq!(t.ok()["securityProfileTargets"], json!([{"arn": room}]));
    assert!(t.ok().get("nextToken").is_none());
    c.call("GET", "/security-profiles/nope/targets", None)
        .await
        .error(404, "ResourceNotFoundException");

    let m = c
        .call(
            "GET",
            &format!(
                "/security-profiles-for-target?securityProfileTargetArn={}",
                enc(&floor)
            ),
            None,
        )
        .await;
    let names: Vec<&str> = m.ok()["securityProfileTargetMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["securityProfileIdentifier"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["p5"]);
    let m = c
        .call(
            "GET",
            &format!(
                "/security-profiles-for-target?recursive=true&securityProfileTargetArn={}",
                enc(&floor)
            ),
            None,
        )
        .await;
    let pairs: Vec<(String, String)> = m.ok()["securityProfileTargetMappings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["securityProfileIdentifier"]["name"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                m["target"]["arn"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("p5".to_owned(), floor.clone()),
            ("p4".to_owned(), room.clone())
        ]
    );

    c.call(
        "DELETE",
        &format!(
            "/security-profiles/p4/targets?securityProfileTargetArn={}",
            enc(&room)
        ),
        None,
    )
    .await
    .ok();
    let t = c.call("GET", "/security-profiles/p4/targets", None).await;
    assert_eq!(t.ok()["securityProfileTargets"], json!([{"arn": all}]));
    c.call(
        "DELETE",
        &format!(
            "/security-profiles/nope/targets?securityProfileTargetArn={}",
            enc(&room)
        ),
        None,
    )
    .await
    .error(404, "ResourceNotFoundException");
}

#[tokio::test]
async fn validate_behaviors_reports_every_problem() {
    let (_s, c) = server().await;
    let r = c
        .call(
            "POST",
            "/security-profile-behaviors/validate",
            Some(json!({"behaviors": static_profile()["behaviors"]})),
        )
        .await;
    assert_eq!(r.ok(), &json!({"valid": true, "validationErrors": []}));
    let r = c
        .call(
            "POST",
            "/security-profile-behaviors/validate",
            Some(json!({"behaviors": [
                {"name": "a", "metric": "custom-undefined",
                 "criteria": {"comparisonOperator": "less-than", "value": {"number": 1}}},
                {"name": "a", "metric": "aws:num-listening-tcp-ports",
                 "criteria": {"comparisonOperator": "in-cidr-set", "value": {"count": 1}}}
            ]})),
        )
        .await;
    let body = r.ok();
    assert_eq!(body["valid"], false);
    assert!(
        body["validationErrors"].as_array().unwrap().len() >= 2,
        "{body}"
    );
    c.call(
        "POST",
        "/security-profile-behaviors/validate",
        Some(json!({})),
    )
    .await
    .error(400, "InvalidRequestException");
}

#[tokio::test]
async fn custom_metrics_crud_and_paging() {
    let (_s, c) = server().await;
    for (name, ty) in [("temp", "number"), ("procs", "string-list")] {
        let r = c
            .call(
                "POST",
                &format!("/custom-metric/{name}"),
                Some(json!({"metricType": ty, "displayName": "Shown", "clientRequestToken": "tok-1"})),
            )
            .await;
        assert_eq!(
            r.ok(),
            &json!({"metricName": name, "metricArn": arn(&format!("custommetric/{name}"))})
        );
    }
    c.call(
        "POST",
        "/custom-metric/temp",
        Some(json!({"metricType": "number", "clientRequestToken": "tok-2"})),
    )
    .await
    .error(409, "ResourceAlreadyExistsException");
    // The create that made it, retried with its token, succeeds again with the same answer.
    let again = c
        .call(
            "POST",
            "/custom-metric/temp",
            Some(json!({"metricType": "number", "displayName": "Shown", "clientRequestToken": "tok-1"})),
        )
        .await;
    assert_eq!(again.ok()["metricArn"], arn("custommetric/temp"));
    c.call(
        "POST",
        "/custom-metric/aws:mine",
        Some(json!({"metricType": "number", "clientRequestToken": "tok-2"})),
    )
    .await
    .error(400, "InvalidRequestException");

    let d = c.call("GET", "/custom-metric/temp", None).await;
    assert_eq!(d.ok()["metricType"], "number");
    assert_eq!(d.ok()["displayName"], "Shown");
    let u = c
        .call(
            "PATCH",
            "/custom-metric/temp",
            Some(json!({"displayName": "Temperature"})),
        )
        .await;
    assert_eq!(u.ok()["displayName"], "Temperature");
    c.call(
        "PATCH",
        "/custom-metric/none",
        Some(json!({"displayName": "x"})),
    )
    .await
    .error(404, "ResourceNotFoundException");
    c.call("PATCH", "/custom-metric/temp", Some(json!({})))
        .await
        .error(400, "InvalidRequestException");
    c.call("GET", "/custom-metric/none", None)
        .await
        .error(404, "ResourceNotFoundException");

    let l = c.call("GET", "/custom-metrics?maxResults=1", None).await;
    assert_eq!(l.ok()["metricNames"], json!(["procs"]));
    let token = l.ok()["nextToken"].as_str().unwrap().to_owned();
    let l = c
        .call(
            "GET",
            &format!("/custom-metrics?maxResults=1&nextToken={token}"),
            None,
        )
        .await;
    assert_eq!(l.ok()["metricNames"], json!(["temp"]));
    c.call("GET", "/custom-metrics?nextToken=garbage", None)
        .await
        .error(400, "InvalidRequestException");

    // In use by a profile: cannot be deleted; filters find the profile.
    c.call(
        "POST",
        "/security-profiles/hot",
        Some(json!({"behaviors": [{"name": "hot", "metric": "temp",
            "criteria": {"comparisonOperator": "less-than", "value": {"number": 80}}}]})),
    )
    .await
    .ok();
    let l = c
        .call("GET", "/security-profiles?metricName=temp", None)
        .await;
    assert_eq!(l.ok()["securityProfileIdentifiers"][0]["name"], "hot");
    let l = c
        .call("GET", "/security-profiles?metricName=procs", None)
        .await;
    assert_eq!(l.ok()["securityProfileIdentifiers"], json!([]));
    c.call("GET", "/security-profiles?metricName=nosuch", None)
        .await
        .error(404, "ResourceNotFoundException");
    c.call("DELETE", "/custom-metric/temp", None)
        .await
        .error(400, "InvalidRequestException");
    c.call("DELETE", "/security-profiles/hot", None).await.ok();
    c.call("DELETE", "/custom-metric/temp", None).await.ok();
    c.call("DELETE", "/custom-metric/temp", None).await.ok();
    let l = c.call("GET", "/custom-metrics", None).await;
    assert_eq!(l.ok()["metricNames"], json!(["procs"]));
}

#[tokio::test]
async fn dimensions_crud() {
    let (_s, c) = server().await;
    let r = c
        .call(
            "POST",
            "/dimensions/telemetry",
            Some(json!({"type": "TOPIC_FILTER", "stringValues": ["data/#"], "clientRequestToken": "t"})),
        )
        .await;
    assert_eq!(
        r.ok(),
        &json!({"name": "telemetry", "arn": arn("dimension/telemetry")})
    );
    let m = c
        .call(
            "POST",
            "/dimensions/other",
            Some(json!({"type": "CLIENT_ID", "stringValues": ["x"], "clientRequestToken": "t"})),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("'type'"), "{m}");
    let m = c
        .call(
            "POST",
            "/dimensions/other",
            Some(json!({"type": "TOPIC_FILTER", "stringValues": [], "clientRequestToken": "t"})),
        )
        .await
        .error(400, "InvalidRequestException");
    assert!(m.contains("stringValues"), "{m}");
    c.call(
        "POST",
        "/dimensions/telemetry",
        Some(json!({"type": "TOPIC_FILTER", "stringValues": ["a"], "clientRequestToken": "t"})),
    )
    .await
    .error(409, "ResourceAlreadyExistsException");
    c.call(
        "POST",
        "/dimensions/telemetry",
        Some(
            json!({"type": "TOPIC_FILTER", "stringValues": ["data/#"], "clientRequestToken": "t2"}),
        ),
    )
    .await
    .error(409, "ResourceAlreadyExistsException");
    // A retry of the original create (same token, same request) succeeds again.
    c.call(
        "POST",
        "/dimensions/telemetry",
        Some(
            json!({"type": "TOPIC_FILTER", "stringValues": ["data/#"], "clientRequestToken": "t"}),
        ),
    )
    .await
    .ok();

    let d = c.call("GET", "/dimensions/telemetry", None).await;
    assert_eq!(d.ok()["type"], "TOPIC_FILTER");
    assert_eq!(d.ok()["stringValues"], json!(["data/#"]));
    let u = c
        .call(
            "PATCH",
            "/dimensions/telemetry",
            Some(json!({"stringValues": ["data/+", "cmd/#"]})),
        )
        .await;
    assert_eq!(u.ok()["stringValues"], json!(["data/+", "cmd/#"]));
    c.call(
        "PATCH",
        "/dimensions/none",
        Some(json!({"stringValues": ["a"]})),
    )
    .await
    .error(404, "ResourceNotFoundException");
    c.call("GET", "/dimensions/none", None)
        .await
        .error(404, "ResourceNotFoundException");
    let l = c.call("GET", "/dimensions", None).await;
    assert_eq!(l.ok()["dimensionNames"], json!(["telemetry"]));
    c.call("GET", "/security-profiles?dimensionName=none", None)
        .await
        .error(404, "ResourceNotFoundException");
    c.call("DELETE", "/dimensions/telemetry", None).await.ok();
    c.call("DELETE", "/dimensions/telemetry", None).await.ok();
    let l = c.call("GET", "/dimensions", None).await;
    assert_eq!(l.ok()["dimensionNames"], json!([]));
}

async fn seed_violation(store: &dyn Store, id: &str, thing: &str, behavior: Value, at: i64) {
    store
        .upsert_violation(&NewViolation {
            violation_id: id.into(),
            thing: thing.into(),
            profile: "ports".into(),
            behavior: behavior["name"].as_str().unwrap().into(),
            metric: Some("aws:num-listening-tcp-ports".into()),
            behavior_definition: behavior.clone(),
            last_value: Some(json!({"count": 9})),
            started_at: at,
            last_at: at,
        })
        .await
        .unwrap();
    store
        .insert_violation_event(&ViolationEvent {
            violation_id: id.into(),
            thing: thing.into(),
            profile: "ports".into(),
            behavior: behavior["name"].as_str().unwrap().into(),
            behavior_definition: Some(behavior),
            event_type: ViolationEventType::InAlarm,
            event_time: at,
            value: Some(json!({"count": 9})),
            verification_state: None,
            verification_description: None,
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn violations_and_verification_state() {
    let (s, c) = server().await;
    // Recent times: retention prunes violation events older than 30 days.
    let at = (fleetward_core::aws::time::system_now_ms() / 1000 - 3600) * 1000;
    let secs = at / 1000;
    let iso = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .format("%Y-%m-%dT%H%%3A%M%%3A%SZ")
            .to_string()
    };
    let static_b = static_profile()["behaviors"][0].clone();
    let stat_b = json!({"name": "p90", "metric": "aws:num-listening-tcp-ports", "suppressAlerts": true,
        "criteria": {"comparisonOperator": "greater-than", "statisticalThreshold": {"statistic": "p90"},
                     "durationSeconds": 300}});
    seed_violation(
        s.store(),
        "aaaa0000aaaa0000aaaa0000aaaa0000",
        "dev-1",
        static_b,
        at,
    )
    .await;
    seed_violation(
        s.store(),
        "bbbb0000bbbb0000bbbb0000bbbb0000",
        "dev-2",
        stat_b,
        at + 1000,
    )
    .await;

    let l = c.call("GET", "/active-violations", None).await;
    let v = &l.ok()["activeViolations"];
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[0]["violationId"], "aaaa0000aaaa0000aaaa0000aaaa0000");
    assert_eq!(v[0]["thingName"], "dev-1");
    assert_eq!(v[0]["lastViolationValue"], json!({"count": 9}));
    assert_eq!(v[0]["violationStartTime"], json!(secs as f64));

    let l = c
        .call("GET", "/active-violations?thingName=dev-2", None)
        .await;
    assert_eq!(l.ok()["activeViolations"][0]["thingName"], "dev-2");
    let l = c
        .call(
            "GET",
            "/active-violations?behaviorCriteriaType=STATISTICAL",
            None,
        )
        .await;
    assert_eq!(l.ok()["activeViolations"].as_array().unwrap().len(), 1);
    assert_eq!(l.ok()["activeViolations"][0]["thingName"], "dev-2");
    let l = c
        .call("GET", "/active-violations?listSuppressedAlerts=false", None)
        .await;
    assert_eq!(l.ok()["activeViolations"].as_array().unwrap().len(), 1);
    assert_eq!(l.ok()["activeViolations"][0]["thingName"], "dev-1");

    c.call(
        "POST",
        "/violations/verification-state/aaaa0000aaaa0000aaaa0000aaaa0000",
        Some(json!({"verificationState": "TRUE_POSITIVE", "verificationStateDescription": "confirmed"})),
    )
    .await
    .ok();
    c.call(
        "POST",
        "/violations/verification-state/aaaa0000aaaa0000aaaa0000aaaa0000",
        Some(json!({"verificationState": "PROBABLY"})),
    )
    .await
    .error(400, "InvalidRequestException");
    c.call(
        "POST",
        "/violations/verification-state/ffff",
        Some(json!({"verificationState": "UNKNOWN"})),
    )
    .await
    .error(400, "InvalidRequestException");
    c.call(
        "POST",
        "/violations/verification-state/not_an_id",
        Some(json!({"verificationState": "UNKNOWN"})),
    )
    .await
    .error(400, "InvalidRequestException");

    let l = c
        .call(
            "GET",
            "/active-violations?verificationState=TRUE_POSITIVE",
            None,
        )
        .await;
    let v = &l.ok()["activeViolations"];
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["verificationStateDescription"], "confirmed");

    // ListViolationEvents: ISO 8601 as botocore sends, and epoch seconds.
    let l = c
        .call(
            "GET",
            &format!(
                "/violation-events?startTime={}&endTime={}",
                iso(at - 60_000),
                iso(at + 60_000)
            ),
            None,
        )
        .await;
    let e = &l.ok()["violationEvents"];
    assert_eq!(e.as_array().unwrap().len(), 2, "{e}");
    assert_eq!(e[0]["violationEventType"], "in-alarm");
    assert_eq!(e[0]["verificationState"], "TRUE_POSITIVE");
    assert_eq!(e[0]["violationEventTime"], json!(secs as f64));
    let l = c
        .call(
            "GET",
            &format!(
                "/violation-events?startTime={}.5&endTime={}&securityProfileName=ports",
                secs,
                secs + 2
            ),
            None,
        )
        .await;
    assert_eq!(l.ok()["violationEvents"][0]["thingName"], "dev-2");
    c.call(
        "GET",
        &format!("/violation-events?startTime={}&endTime={secs}", secs + 2),
        None,
    )
    .await
    .error(400, "InvalidRequestException");
}

#[tokio::test]
async fn metric_values_with_dimension_filter() {
    let (s, c) = server().await;
    // Recent times: retention prunes datapoints older than 14 days.
    let t0 = (fleetward_core::aws::time::system_now_ms() / 1000 - 3600) * 1000;
    let secs = t0 / 1000;
    s.store()
        .insert_reports(&[StoredReport {
            thing: "dev-1".into(),
            report_id: 1,
            received_at: t0,
            format: fleetward_proto::Format::Json,
            size: 100,
            datapoints: vec![Datapoint {
                metric: Metric::Aws(AwsMetric::NumListeningTcpPorts),
                value: MetricValue::Count(3),
            }],
        }])
        .await
        .unwrap();
    s.store()
        .insert_cloud_datapoints(&[
            CloudDatapoint {
                thing: "dev-1".into(),
                metric: AwsMetric::NumMessagesSent,
                timestamp: t0,
                value: MetricValue::Count(4),
                topic: Some("data/x".into()),
            },
            CloudDatapoint {
                thing: "dev-1".into(),
                metric: AwsMetric::NumMessagesSent,
                timestamp: t0 + 1000,
                value: MetricValue::Count(5),
                topic: Some("cmd/y".into()),
            },
        ])
        .await
        .unwrap();
    let window = format!("startTime={}&endTime={}", secs - 1, secs + 100);
    let r = c
        .call(
            "GET",
            &format!(
                "/metric-values?thingName=dev-1&metricName=aws%3Anum-listening-tcp-ports&{window}"
            ),
            None,
        )
        .await;
    assert_eq!(
        r.ok()["metricDatumList"],
        json!([{"timestamp": secs as f64, "value": {"count": 3}}])
    );
    let r = c
        .call(
            "GET",
            &format!("/metric-values?thingName=dev-1&metricName=aws%3Anum-messages-sent&{window}"),
            None,
        )
        .await;
    assert_eq!(r.ok()["metricDatumList"].as_array().unwrap().len(), 2);

    c.call(
        "POST",
        "/dimensions/data",
        Some(
            json!({"type": "TOPIC_FILTER", "stringValues": ["data/#"], "clientRequestToken": "t"}),
        ),
    )
    .await
    .ok();
    let r = c
        .call(
            "GET",
            &format!("/metric-values?thingName=dev-1&metricName=aws%3Anum-messages-sent&dimensionName=data&{window}"),
            None,
        )
        .await;
    assert_eq!(
        r.ok()["metricDatumList"],
        json!([{"timestamp": secs as f64, "value": {"count": 4}}])
    );
    let r = c
        .call(
            "GET",
            &format!("/metric-values?thingName=dev-1&metricName=aws%3Anum-messages-sent&dimensionName=data&dimensionValueOperator=NOT_IN&{window}"),
            None,
        )
        .await;
    assert_eq!(r.ok()["metricDatumList"][0]["value"], json!({"count": 5}));

    c.call(
        "GET",
        &format!("/metric-values?thingName=dev-1&metricName=aws%3Anope&{window}"),
        None,
    )
    .await
    .error(400, "InvalidRequestException");
    c.call(
        "GET",
        &format!("/metric-values?thingName=dev-1&metricName=unregistered&{window}"),
        None,
    )
    .await
    .error(404, "ResourceNotFoundException");
    c.call(
        "GET",
        &format!("/metric-values?thingName=dev-1&metricName=aws%3Anum-messages-sent&dimensionName=none&{window}"),
        None,
    )
    .await
    .error(404, "ResourceNotFoundException");
    c.call(
        "GET",
        &format!("/metric-values?thingName=dev-1&metricName=aws%3Anum-messages-sent&dimensionValueOperator=MAYBE&{window}"),
        None,
    )
    .await
    .error(400, "InvalidRequestException");
    c.call("GET", "/metric-values?thingName=dev-1", None)
        .await
        .error(400, "InvalidRequestException");
}

#[tokio::test]
async fn training_summaries_report_pending_build() {
    let (_s, c) = server().await;
    c.call(
        "POST",
        "/security-profiles/ml",
        Some(json!({"behaviors": [
            {"name": "ml-ports", "metric": "aws:num-listening-tcp-ports",
             "criteria": {"mlDetectionConfig": {"confidenceLevel": "HIGH"}}},
            {"name": "static", "metric": "aws:num-listening-tcp-ports",
             "criteria": {"comparisonOperator": "less-than", "value": {"count": 5}}}
        ]})),
    )
    .await
    .ok();
    let r = c
        .call(
            "GET",
            "/behavior-model-training/summaries?securityProfileName=ml",
            None,
        )
        .await;
    let s = &r.ok()["summaries"];
    assert_eq!(s.as_array().unwrap().len(), 1, "{s}");
    assert_eq!(s[0]["behaviorName"], "ml-ports");
    assert_eq!(s[0]["modelStatus"], "PENDING_BUILD");
    c.call(
        "GET",
        "/behavior-model-training/summaries?securityProfileName=none",
        None,
    )
    .await
    .error(404, "ResourceNotFoundException");
    c.call(
        "GET",
        "/behavior-model-training/summaries?maxResults=11",
        None,
    )
    .await
    .error(400, "InvalidRequestException");
    let r = c
        .call(
            "GET",
            "/behavior-model-training/summaries?maxResults=10",
            None,
        )
        .await;
    assert_eq!(r.ok()["summaries"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn authentication_failures_are_aws_shaped_403s() {
    let (s, c) = server().await;
    // Unauthenticated endpoints.
    let doc = c.unsigned("GET", "/openapi.json").await;
    let doc = doc.ok();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(
        doc["paths"]["/security-profiles/{securityProfileName}"]["patch"]["operationId"]
            == "UpdateSecurityProfile"
    );
    let ops: usize = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|p| p.as_object().unwrap().len())
        .sum();
    assert!(ops >= 25, "{ops} operations documented");

    c.unsigned("GET", "/security-profiles")
        .await
        .error(403, "MissingAuthenticationTokenException");

    let wrong_secret = Client {
        key: Key {
            id: c.key.id.clone(),
            secret: "not-the-secret".into(),
        },
        ..c.clone()
    };
    wrong_secret
        .call("GET", "/security-profiles", None)
        .await
        .error(403, "InvalidSignatureException");

    let unknown = Client {
        key: Key {
            id: "AKIAUNKNOWNUNKNOWN00".into(),
            secret: c.key.secret.clone(),
        },
        ..c.clone()
    };
    unknown
        .call("GET", "/security-profiles", None)
        .await
        .error(403, "UnrecognizedClientException");

    let m = c
        .call_at(
            "GET",
            "/security-profiles",
            None,
            SystemTime::now() - Duration::from_secs(20 * 60),
        )
        .await
        .error(403, "InvalidSignatureException");
    assert!(m.starts_with("Signature expired"), "{m}");
    c.call_at(
        "GET",
        "/security-profiles",
        None,
        SystemTime::now() + Duration::from_secs(20 * 60),
    )
    .await
    .error(403, "InvalidSignatureException");
    // Within 15 minutes is fine.
    c.call_at(
        "GET",
        "/security-profiles",
        None,
        SystemTime::now() - Duration::from_secs(10 * 60),
    )
    .await
    .ok();

    // A body changed after signing.
    let signed = c.sign(
        "POST",
        "/custom-metric/m",
        br#"{"metricType":"number","clientRequestToken":"t"}"#,
        SystemTime::now(),
    );
    c.send(
        "POST",
        "/custom-metric/m",
        signed,
        br#"{"metricType":"string-list","clientRequestToken":"t"}"#.to_vec(),
    )
    .await
    .error(403, "InvalidSignatureException");
    // A query changed after signing.
    let signed = c.sign(
        "GET",
        "/custom-metrics?maxResults=1",
        b"",
        SystemTime::now(),
    );
    c.send("GET", "/custom-metrics?maxResults=2", signed, Vec::new())
        .await
        .error(403, "InvalidSignatureException");
    // A garbled Authorization header.
    c.send(
        "GET",
        "/custom-metrics",
        vec![("authorization".into(), "AWS4-HMAC-SHA256 garbage".into())],
        Vec::new(),
    )
    .await
    .error(403, "IncompleteSignatureException");

    // Presigned URLs: valid within their lifetime, refused once expired or altered.
    let url = c.presign(
        "/custom-metrics?maxResults=1",
        Duration::from_secs(60),
        SystemTime::now(),
    );
    c.send("GET", &url, Vec::new(), Vec::new()).await.ok();
    let expired = c.presign(
        "/custom-metrics",
        Duration::from_secs(60),
        SystemTime::now() - Duration::from_secs(120),
    );
    let m = c
        .send("GET", &expired, Vec::new(), Vec::new())
        .await
        .error(403, "InvalidSignatureException");
    assert!(m.starts_with("Signature expired"), "{m}");
    let altered = url.replace("maxResults=1", "maxResults=2");
    c.send("GET", &altered, Vec::new(), Vec::new())
        .await
        .error(403, "InvalidSignatureException");

    // A request that changes state must sign its body: a presigned POST (UNSIGNED-PAYLOAD, as
    // botocore presigns) and a header-signed POST declaring UNSIGNED-PAYLOAD are refused; a
    // read may leave its payload unsigned.
    let presigned_post = c.presign_method(
        "POST",
        "/custom-metric/presigned",
        Duration::from_secs(60),
        SystemTime::now(),
    );
    c.send("POST", &presigned_post, Vec::new(), Vec::new())
        .await
        .error(403, "InvalidSignatureException");
    let unsigned = c.sign_unsigned_payload("POST", "/custom-metric/unsigned", SystemTime::now());
    let m = c
        .send(
            "POST",
            "/custom-metric/unsigned",
            unsigned,
            br#"{"metricType":"number"}"#.to_vec(),
        )
        .await
        .error(403, "InvalidSignatureException");
    assert!(m.contains("UNSIGNED-PAYLOAD"), "{m}");
    let unsigned_read = c.sign_unsigned_payload("GET", "/custom-metrics", SystemTime::now());
    c.send("GET", "/custom-metrics", unsigned_read, Vec::new())
        .await
        .ok();
    // The key is checked before the body is read: an unknown key with an oversized body is
    // refused for the key, not for the size.
    let stranger = Client {
        key: Key {
            id: "AKIAUNKNOWNUNKNOWN00".into(),
            secret: "x".into(),
        },
        ..c.clone()
    };
    let huge = vec![b' '; 4 * 1024 * 1024];
    let headers = stranger.sign("POST", "/custom-metric/big", &huge, SystemTime::now());
    stranger
        .send("POST", "/custom-metric/big", headers, huge)
        .await
        .error(403, "UnrecognizedClientException");

    // A second key works; deleted, it no longer does.
    let k = fleetward_api::keys::create(s.store(), "ci").await.unwrap();
    let second = Client {
        key: Key {
            id: k.access_key_id.clone(),
            secret: k.secret.clone(),
        },
        ..c.clone()
    };
    second.call("GET", "/dimensions", None).await.ok();
    s.store().delete_api_key(&k.access_key_id).await.unwrap();
    second
        .call("GET", "/dimensions", None)
        .await
        .error(403, "UnrecognizedClientException");
    // Names with ':' are double-encoded in the canonical request, as the SDKs do.
    c.call(
        "POST",
        "/custom-metric/a:b",
        Some(json!({"metricType": "number", "clientRequestToken": "t"})),
    )
    .await
    .ok();
    c.call("GET", "/custom-metric/a%3Ab", None).await.ok();
}

#[tokio::test]
async fn throttling_per_key_and_operation() {
    let (_s, c) = server_with(fleetward_api::limit::RateLimitConfig {
        default_tps: 1,
        describe_tps: 1,
        metric_values_tps: 1,
    })
    .await;
    // A budget of one call per second with a burst of one: of 20 back-to-back calls, at
    // least one finds the bucket empty whatever the machine's speed, unless every call
    // took over a second.
    let mut throttled = 0;
    for _ in 0..20 {
        let r = c.call("GET", "/custom-metrics", None).await;
        if r.status != 200 {
            r.error(400, "ThrottlingException");
            throttled += 1;
        }
    }
    assert!(throttled > 0, "no call was throttled");
    // Other operations have their own budget.
    let mut ok = false;
    for _ in 0..20 {
        if c.call("GET", "/dimensions", None).await.status == 200 {
            ok = true;
            break;
        }
    }
    assert!(ok);
}

/// Edits that change what detection evaluates reach it through the service layer's `Changes`,
/// not through the handler: a profile attached, updated or detached pokes targeting once each;
/// creating an unattached profile, a refused attach and a read do not; a custom metric pokes
/// the custom-type refresh.
#[tokio::test]
async fn edits_poke_detection_through_the_service_layer() {
    use std::sync::atomic::Ordering::SeqCst;
    let (s, c) = server().await;
    let targeting = || s.changes.targeting.load(SeqCst);
    let all = arn("all/things");
    let attach = format!(
        "/security-profiles/ports/targets?securityProfileTargetArn={}",
        enc(&all)
    );
    c.call("POST", "/security-profiles/ports", Some(static_profile()))
        .await
        .ok();
    assert_eq!(
        targeting(),
        0,
        "an unattached profile changes nothing detection runs"
    );
    c.call("PUT", &attach, None).await.ok();
    assert_eq!(targeting(), 1);
    c.call(
        "PUT",
        "/security-profiles/missing/targets?securityProfileTargetArn=x",
        None,
    )
    .await;
    c.call("GET", "/security-profiles/ports", None).await.ok();
    assert_eq!(targeting(), 1, "a refused edit or a read poked detection");
    c.call(
        "PATCH",
        "/security-profiles/ports",
        Some(json!({"securityProfileDescription": "fewer ports"})),
    )
    .await
    .ok();
    assert_eq!(targeting(), 2);
    c.call("DELETE", &attach, None).await.ok();
    assert_eq!(targeting(), 3);
    assert_eq!(s.changes.custom_metrics.load(SeqCst), 0);
    c.call(
        "POST",
        "/custom-metric/temp",
        Some(json!({"metricType": "number", "clientRequestToken": "t"})),
    )
    .await
    .ok();
    assert_eq!(s.changes.custom_metrics.load(SeqCst), 1);
}

//! The registry API through the router: every route (things, thing groups, certificates,
//! principals, policies), its members, status codes and AWS error names.

use std::time::SystemTime;

use fleetward_testkit::sigv4::{self, Client};
use serde_json::{Value, json};

use crate::support::{arn, server};

/// A signed request carrying the `x-amzn-principal` header (signed too, as botocore does).
async fn with_principal(c: &Client, method: &str, path: &str, principal: &str) -> sigv4::Reply {
    let mut headers = c.sign(method, path, b"", SystemTime::now());
    headers.push(("x-amzn-principal".to_owned(), principal.to_owned()));
    c.send(method, path, headers, Vec::new()).await
}

#[tokio::test]
async fn thing_routes() {
    let (_s, c) = server().await;

    let created = c
        .call(
            "POST",
            "/things/cam-1",
            Some(json!({"attributePayload": {"attributes": {"site": "lyon"}}})),
        )
        .await;
    let body = created.ok().clone();
    assert_eq!(body["thingName"], "cam-1");
    assert_eq!(body["thingArn"], arn("thing/cam-1"));
    assert_eq!(body["thingId"].as_str().unwrap().len(), 36);
    // Idempotent for the same configuration, a conflict for another.
    assert_eq!(
        c.call(
            "POST",
            "/things/cam-1",
            Some(json!({"attributePayload": {"attributes": {"site": "lyon"}}})),
        )
        .await
        .ok(),
        &body
    );
    let conflict = c
        .call(
            "POST",
            "/things/cam-1",
            Some(json!({"attributePayload": {"attributes": {"site": "paris"}}})),
        )
        .await;
    conflict.error(409, "ResourceAlreadyExistsException");
    assert_eq!(conflict.body["resourceId"], "cam-1");
    assert_eq!(conflict.body["resourceArn"], arn("thing/cam-1"));
    c.call("POST", "/things/bad%20name", None)
        .await
        .error(400, "InvalidRequestException");
    c.call(
        "POST",
        "/things/cam-2",
        Some(json!({"attributePayload": 7})),
    )
    .await
    .error(400, "InvalidRequestException");
    c.call("POST", "/things/cam-2", Some(json!({"unknownMember": 1})))
        .await
        .error(400, "InvalidRequestException");
    c.call(
        "POST",
        "/things/cam-2",
        Some(json!({"thingTypeName": "camera"})),
    )
    .await
    .error(404, "ResourceNotFoundException");
    for i in 2..=4 {
        let site = if i % 2 == 0 { "paris" } else { "lyon" };
        c.call(
            "POST",
            &format!("/things/cam-{i}"),
            Some(json!({"attributePayload": {"attributes": {"site": site}}})),
        )
        .await
        .ok();
    }

    let d = c.call("GET", "/things/cam-1", None).await;
    let d = d.ok();
    assert_eq!(d["defaultClientId"], "cam-1");
    assert_eq!(d["thingId"], body["thingId"]);
    assert_eq!(d["version"], 1);
    assert_eq!(d["attributes"], json!({"site": "lyon"}));
    c.call("GET", "/things/nope", None)
        .await
        .error(404, "ResourceNotFoundException");

    let first = c.call("GET", "/things?maxResults=3", None).await;
    let first = first.ok();
    assert_eq!(first["things"].as_array().unwrap().len(), 3);
    assert_eq!(first["things"][0]["thingArn"], arn("thing/cam-1"));
    let token = first["nextToken"].as_str().expect("nextToken");
    let rest = c
        .call(
            "GET",
            &format!("/things?maxResults=3&nextToken={token}"),
            None,
        )
        .await;
    let rest = rest.ok();
    assert_eq!(rest["things"].as_array().unwrap().len(), 1);
    assert!(rest.get("nextToken").is_none());
    let lyon = c
        .call(
            "GET",
            "/things?attributeName=site&attributeValue=lyon",
            None,
        )
        .await;
    let names: Vec<&str> = lyon.ok()["things"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["thingName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cam-1", "cam-3"]);
    for bad in [
        "/things?maxResults=0",
        "/things?maxResults=251",
        "/things?nextToken=zz",
        "/things?usePrefixAttributeValue=maybe",
        "/things?attributeValue=lyon",
    ] {
        c.call("GET", bad, None)
            .await
            .error(400, "InvalidRequestException");
    }

    // DeleteThing: missing is success, version conflicts are 409.
    c.call("DELETE", "/things/never-was", None).await.ok();
    c.call("DELETE", "/things/cam-4?expectedVersion=3", None)
        .await
        .error(409, "VersionConflictException");
    c.call("DELETE", "/things/cam-4?expectedVersion=x", None)
        .await
        .error(400, "InvalidRequestException");
    c.call("DELETE", "/things/cam-4?expectedVersion=1", None)
        .await
        .ok();
    c.call("GET", "/things/cam-4", None)
        .await
        .error(404, "ResourceNotFoundException");

    // Unsigned requests never reach a registry handler.
    c.unsigned("GET", "/things")
        .await
        .error(403, "MissingAuthenticationTokenException");
}

#[tokio::test]
async fn thing_group_routes() {
    let (_s, c) = server().await;
    let site = c.call("POST", "/thing-groups/site", None).await;
    assert_eq!(site.ok()["thingGroupArn"], arn("thinggroup/site"));
    c.call(
        "POST",
        "/thing-groups/floor-1",
        Some(json!({"parentGroupName": "site",
                    "thingGroupProperties": {"thingGroupDescription": "first floor"},
                    "tags": [{"Key": "team", "Value": "ops"}]})),
    )
    .await
    .ok();
    c.call(
        "POST",
        "/thing-groups/room-a",
        Some(json!({"parentGroupName": "floor-1"})),
    )
    .await
    .ok();
    c.call(
        "POST",
        "/thing-groups/floor-1",
        Some(json!({"parentGroupName": "room-a"})),
    )
    .await
    .error(409, "ResourceAlreadyExistsException");
    c.call(
        "POST",
        "/thing-groups/orphan",
        Some(json!({"parentGroupName": "nope"})),
    )
    .await
    .error(400, "InvalidRequestException");
    c.call(
        "POST",
        "/thing-groups/x",
        Some(json!({"parentGroupName": "bad name"})),
    )
    .await
    .error(400, "InvalidRequestException");

    let d = c.call("GET", "/thing-groups/room-a", None).await;
    let d = d.ok();
    assert_eq!(d["thingGroupName"], "room-a");
    assert_eq!(d["version"], 1);
    assert_eq!(d["thingGroupMetadata"]["parentGroupName"], "floor-1");
    assert_eq!(
        d["thingGroupMetadata"]["rootToParentThingGroups"],
        json!([{"groupName": "site", "groupArn": arn("thinggroup/site")},
               {"groupName": "floor-1", "groupArn": arn("thinggroup/floor-1")}])
    );
    assert!(d["thingGroupMetadata"]["creationDate"].is_f64());
    let floor = c.call("GET", "/thing-groups/floor-1", None).await;
    assert_eq!(
        floor.ok()["thingGroupProperties"]["thingGroupDescription"],
        "first floor"
    );
    c.call("GET", "/thing-groups/nope", None)
        .await
        .error(404, "ResourceNotFoundException");

    let names = |v: &Value| -> Vec<String> {
        v["thingGroups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["groupName"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(c.call("GET", "/thing-groups", None).await.ok()),
        ["floor-1", "room-a", "site"]
    );
    assert_eq!(
        names(
            c.call("GET", "/thing-groups?parentGroup=site", None)
                .await
                .ok()
        ),
        ["floor-1"]
    );
    assert_eq!(
        names(
            c.call("GET", "/thing-groups?parentGroup=site&recursive=true", None)
                .await
                .ok()
        ),
        ["floor-1", "room-a"]
    );
    assert_eq!(
        names(
            c.call("GET", "/thing-groups?namePrefixFilter=r", None)
                .await
                .ok()
        ),
        ["room-a"]
    );
    let page = c.call("GET", "/thing-groups?maxResults=2", None).await;
    let token = page.ok()["nextToken"].as_str().unwrap().to_owned();
    assert_eq!(
        names(
            c.call("GET", &format!("/thing-groups?nextToken={token}"), None)
                .await
                .ok()
        ),
        ["site"]
    );
    c.call("GET", "/thing-groups?parentGroup=nope", None)
        .await
        .error(404, "ResourceNotFoundException");
    c.call("GET", "/thing-groups?recursive=yes", None)
        .await
        .error(400, "InvalidRequestException");

    for t in ["cam-1", "cam-2"] {
        c.call("POST", &format!("/things/{t}"), None).await.ok();
    }
    c.call(
        "PUT",
        "/thing-groups/addThingToThingGroup",
        Some(json!({"thingGroupName": "room-a", "thingName": "cam-1"})),
    )
    .await
    .ok();
    c.call(
        "PUT",
        "/thing-groups/addThingToThingGroup",
        Some(json!({"thingGroupArn": arn("thinggroup/floor-1"),
                    "thingArn": arn("thing/cam-2")})),
    )
    .await
    .ok();
    for (body, status, name) in [
        (
            json!({"thingGroupName": "nope", "thingName": "cam-1"}),
            404,
            "ResourceNotFoundException",
        ),
        (
            json!({"thingGroupName": "site", "thingName": "nope"}),
            404,
            "ResourceNotFoundException",
        ),
        (
            json!({"thingName": "cam-1"}),
            400,
            "InvalidRequestException",
        ),
        (
            // One group per hierarchy: cam-1 is already in room-a, under site.
            json!({"thingGroupName": "site", "thingName": "cam-1"}),
            400,
            "InvalidRequestException",
        ),
        (
            json!({"thingGroupArn": "arn:aws:sns:us-east-1:000000000000:x", "thingName": "cam-1"}),
            400,
            "InvalidRequestException",
        ),
    ] {
        c.call(
            "PUT",
            "/thing-groups/addThingToThingGroup",
            Some(body.clone()),
        )
        .await
        .error(status, name);
    }

    let direct = c.call("GET", "/thing-groups/site/things", None).await;
    assert_eq!(direct.ok()["things"], json!([]));
    let all = c
        .call("GET", "/thing-groups/site/things?recursive=true", None)
        .await;
    assert_eq!(all.ok()["things"], json!(["cam-1", "cam-2"]));
    let paged = c
        .call(
            "GET",
            "/thing-groups/site/things?recursive=true&maxResults=1",
            None,
        )
        .await;
    assert_eq!(paged.ok()["things"], json!(["cam-1"]));
    assert!(paged.ok()["nextToken"].is_string());
    c.call("GET", "/thing-groups/nope/things", None)
        .await
        .error(404, "ResourceNotFoundException");

    c.call(
        "PUT",
        "/thing-groups/removeThingFromThingGroup",
        Some(json!({"thingGroupName": "room-a", "thingName": "cam-1"})),
    )
    .await
    .ok();
    c.call(
        "PUT",
        "/thing-groups/removeThingFromThingGroup",
        Some(json!({"thingGroupName": "room-a", "thingName": "nope"})),
    )
    .await
    .error(404, "ResourceNotFoundException");
    let after = c.call("GET", "/thing-groups/room-a/things", None).await;
    assert_eq!(after.ok()["things"], json!([]));
}

#[tokio::test]
async fn principal_and_policy_routes() {
    let (_s, c) = server().await;
    c.call("POST", "/things/cam-1", None).await.ok();
    let keys = c
        .call("POST", "/keys-and-certificate?setAsActive=true", None)
        .await;
    let cert_arn = keys.ok()["certificateArn"].as_str().unwrap().to_owned();

    with_principal(&c, "PUT", "/things/cam-1/principals", &cert_arn)
        .await
        .ok();
    with_principal(
        &c,
        "PUT",
        "/things/cam-1/principals?thingPrincipalType=NON_EXCLUSIVE_THING",
        &cert_arn,
    )
    .await
    .ok();
    let listed = c.call("GET", "/things/cam-1/principals", None).await;
    assert_eq!(listed.ok()["principals"], json!([cert_arn]));
    c.call("PUT", "/things/cam-1/principals", None)
        .await
        .error(400, "InvalidRequestException");
    for (path, principal, status, name) in [
        (
            "/things/nope/principals",
            cert_arn.clone(),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/things/cam-1/principals",
            arn(&format!("cert/{}", "a".repeat(64))),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/things/cam-1/principals",
            "us-east-1:cognito-identity".to_owned(),
            400,
            "InvalidRequestException",
        ),
        (
            "/things/cam-1/principals?thingPrincipalType=OWNED",
            cert_arn.clone(),
            400,
            "InvalidRequestException",
        ),
    ] {
        with_principal(&c, "PUT", path, &principal)
            .await
            .error(status, name);
    }
    c.call("GET", "/things/nope/principals", None)
        .await
        .error(404, "ResourceNotFoundException");

    // A thing with a principal attached cannot be deleted (AWS's rule); detached, it can.
    let msg = c
        .call("DELETE", "/things/cam-1", None)
        .await
        .error(400, "InvalidRequestException");
    assert!(msg.contains("principals"), "{msg}");

    // Policies.
    let doc = json!({"Version": "2012-10-17",
                     "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]})
    .to_string();
    let created = c
        .call(
            "POST",
            "/policies/connect.any",
            Some(json!({"policyDocument": doc})),
        )
        .await;
    let created = created.ok();
    assert_eq!(created["policyArn"], arn("policy/connect.any"));
    assert_eq!(created["policyVersionId"], "1");
    assert_eq!(created["policyDocument"], doc);
    c.call(
        "POST",
        "/policies/connect.any",
        Some(json!({"policyDocument": doc})),
    )
    .await
    .error(409, "ResourceAlreadyExistsException");
    c.call(
        "POST",
        "/policies/broken",
        Some(json!({"policyDocument": "{\"Version\": \"2008-10-17\", \"Statement\": []}"})),
    )
    .await
    .error(400, "MalformedPolicyException");
    c.call("POST", "/policies/no-doc", Some(json!({})))
        .await
        .error(400, "InvalidRequestException");
    c.call(
        "POST",
        "/policies/bad%20name",
        Some(json!({"policyDocument": doc})),
    )
    .await
    .error(400, "InvalidRequestException");
    c.call(
        "POST",
        "/policies/second",
        Some(json!({"policyDocument": doc})),
    )
    .await
    .ok();

    let got = c.call("GET", "/policies/connect.any", None).await;
    let got = got.ok();
    assert_eq!(got["policyDocument"], doc);
    assert_eq!(got["defaultVersionId"], "1");
    assert!(got["creationDate"].is_f64());
    c.call("GET", "/policies/nope", None)
        .await
        .error(404, "ResourceNotFoundException");
    let page = c
        .call("GET", "/policies?pageSize=1&isAscendingOrder=true", None)
        .await;
    let page = page.ok().clone();
    assert_eq!(page["policies"][0]["policyName"], "connect.any");
    let marker = page["nextMarker"].as_str().unwrap();
    let rest = c
        .call(
            "GET",
            &format!("/policies?pageSize=1&isAscendingOrder=true&marker={marker}"),
            None,
        )
        .await;
    assert_eq!(rest.ok()["policies"][0]["policyName"], "second");
    assert!(rest.ok().get("nextMarker").is_none());

    c.call(
        "PUT",
        "/target-policies/connect.any",
        Some(json!({"target": cert_arn})),
    )
    .await
    .ok();
    for (path, target, status, name) in [
        (
            "/target-policies/nope",
            cert_arn.clone(),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/target-policies/second",
            arn(&format!("cert/{}", "b".repeat(64))),
            404,
            "ResourceNotFoundException",
        ),
        (
            "/target-policies/second",
            arn("thinggroup/site"),
            400,
            "InvalidRequestException",
        ),
    ] {
        c.call("PUT", path, Some(json!({"target": target})))
            .await
            .error(status, name);
    }
    c.call("PUT", "/target-policies/second", Some(json!({})))
        .await
        .error(400, "InvalidRequestException");

    with_principal(&c, "DELETE", "/things/cam-1/principals", &cert_arn)
        .await
        .ok();
    let listed = c.call("GET", "/things/cam-1/principals", None).await;
    assert_eq!(listed.ok()["principals"], json!([]));
    c.call("DELETE", "/things/cam-1", None).await.ok();

    // The operations are in /openapi.json, generated from the same table the router checks.
    let doc = c.unsigned("GET", "/openapi.json").await;
    let paths = &doc.body["paths"];
    for (p, method) in [
        ("/things/{thingName}", "post"),
        ("/thing-groups/addThingToThingGroup", "put"),
        ("/keys-and-certificate", "post"),
        ("/certificates/{certificateId}", "put"),
        ("/target-policies/{policyName}", "put"),
    ] {
        assert!(
            paths[p][method].is_object(),
            "{p} {method} in /openapi.json"
        );
    }
}

#[tokio::test]
async fn group_deletion_and_reverse_listings() {
    let (_s, c) = server().await;
    c.call("POST", "/thing-groups/site", None).await.ok();
    c.call(
        "POST",
        "/thing-groups/floor-1",
        Some(json!({"parentGroupName": "site"})),
    )
    .await
    .ok();
    c.call("POST", "/things/cam-1", None).await.ok();
    c.call(
        "PUT",
        "/thing-groups/addThingToThingGroup",
        Some(json!({"thingGroupName": "floor-1", "thingName": "cam-1"})),
    )
    .await
    .ok();
    let groups = c.call("GET", "/things/cam-1/thing-groups", None).await;
    assert_eq!(
        groups.ok()["thingGroups"],
        json!([{"groupName": "floor-1", "groupArn": arn("thinggroup/floor-1")}])
    );
    c.call("GET", "/things/nope/thing-groups", None)
        .await
        .error(404, "ResourceNotFoundException");

    // DeleteThingGroup: children refuse, versions must match, missing is success.
    c.call("DELETE", "/thing-groups/site", None)
        .await
        .error(400, "InvalidRequestException");
    c.call("DELETE", "/thing-groups/floor-1?expectedVersion=2", None)
        .await
        .error(409, "VersionConflictException");
    c.call("DELETE", "/thing-groups/floor-1?expectedVersion=1", None)
        .await
        .ok();
    c.call("DELETE", "/thing-groups/floor-1", None).await.ok();
    c.call("DELETE", "/thing-groups/site", None).await.ok();
    let groups = c.call("GET", "/things/cam-1/thing-groups", None).await;
    assert_eq!(groups.ok()["thingGroups"], json!([]));

    // The things of a certificate, the policies of a certificate.
    let keys = c.call("POST", "/keys-and-certificate", None).await;
    let cert_arn = keys.ok()["certificateArn"].as_str().unwrap().to_owned();
    with_principal(&c, "PUT", "/things/cam-1/principals", &cert_arn)
        .await
        .ok();
    let things = with_principal(&c, "GET", "/principals/things", &cert_arn).await;
    assert_eq!(things.ok()["things"], json!(["cam-1"]));
    c.call("GET", "/principals/things", None)
        .await
        .error(400, "InvalidRequestException");
    with_principal(
        &c,
        "GET",
        "/principals/things",
        &arn(&format!("cert/{}", "c".repeat(64))),
    )
    .await
    .error(404, "ResourceNotFoundException");

    let doc = json!({"Version": "2012-10-17",
                     "Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]})
    .to_string();
    for name in ["b-policy", "a-policy"] {
        c.call(
            "POST",
            &format!("/policies/{name}"),
            Some(json!({"policyDocument": doc})),
        )
        .await
        .ok();
        c.call(
            "PUT",
            &format!("/target-policies/{name}"),
            Some(json!({"target": cert_arn})),
        )
        .await
        .ok();
    }
    let target = cert_arn.replace(':', "%3A").replace('/', "%2F");
    let attached = c
        .call(
            "POST",
            &format!("/attached-policies/{target}?pageSize=1"),
            None,
        )
        .await;
    let attached = attached.ok().clone();
    assert_eq!(
        attached["policies"],
        json!([{"policyName": "a-policy", "policyArn": arn("policy/a-policy")}])
    );
    let marker = attached["nextMarker"].as_str().unwrap();
    let rest = c
        .call(
            "POST",
            &format!("/attached-policies/{target}?pageSize=1&marker={marker}"),
            None,
        )
        .await;
    assert_eq!(rest.ok()["policies"][0]["policyName"], "b-policy");
    let missing = arn(&format!("cert/{}", "d".repeat(64)))
        .replace(':', "%3A")
        .replace('/', "%2F");
    c.call("POST", &format!("/attached-policies/{missing}"), None)
        .await
        .error(404, "ResourceNotFoundException");
}

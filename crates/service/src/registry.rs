//! The registry service layer: things, thing groups, certificates, principals and policies, in
//! AWS IoT's request and response shapes.
//!
//! Like [`crate::admin`] for Rules Detect, this is the one place the registry's rules live; the
//! CLI (`fleetward things|groups|certs …`) and the AWS-compatible HTTP routes only parse and
//! print. Requests and responses are serde structs with the members of botocore's `iot` model
//! (camelCase), so `aws iot create-thing --cli-input-json` documents deserialize unchanged.
//!
//! Semantics follow AWS where it is documented, including the surprising parts, because scripts
//! written against AWS depend on them:
//! - CreateThing and CreateThingGroup are idempotent for an identical configuration and answer
//!   `ResourceAlreadyExists` for a different one.
//! - DeleteThing succeeds for a thing that does not exist and refuses (`InvalidRequest`) while
//!   principals are attached.
//! - CreateKeysAndCertificate and RegisterCertificate leave a certificate `INACTIVE` unless asked
//!   otherwise; a `REVOKED` certificate never becomes usable again (`CertificateState`).
//! - A thing is directly in at most 10 groups, and in at most one group of each hierarchy.
//!
//! What Fleetward does not model (thing types, billing groups, dynamic groups, thing-group
//! attributes, non-certificate principals) is refused with a message saying so, never silently
//! ignored. Times in responses are epoch seconds, as AWS's rest-json protocol writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Ctx;
use crate::changes::IdentityChange;
use crate::error::{ServiceError, ServiceResult};
use crate::pki::{CertFacts, verify_issued_by};
use crate::store::{
    CaCertificate, CertStatus, Certificate, NewPolicy, NewThing, NewThingGroup, Page, PageRequest,
    Policy, Store, StoreError, StoreResult, Thing, ThingGroup,
};
use fleetward_core::aws::{ArnScope, Paging};
use fleetward_core::identity::PolicyDocument;

/// Most attributes a thing without a thing type may have (AWS's registry quota; Fleetward has
/// no thing types).
pub const MAX_THING_ATTRIBUTES: usize = 3;
/// Most groups a thing may be directly in.
pub const MAX_GROUPS_PER_THING: usize = 10;
/// Deepest thing-group hierarchy: a root and six levels below it.
pub const MAX_GROUP_DEPTH: usize = 7;
/// Most policies attached to one certificate.
pub const MAX_POLICIES_PER_CERT: usize = 10;
/// Longest `certificatePem` the model accepts.
const MAX_PEM: usize = 65_536;
/// Longest `policyDocument` the model accepts.
const MAX_POLICY_DOCUMENT: usize = 404_600;
/// Longest `thingGroupDescription` the model accepts.
const MAX_GROUP_DESCRIPTION: usize = 2028;
/// The subject common name of certificates CreateKeysAndCertificate issues. It names no thing:
/// as in AWS, the certificate exists before it is attached to one.
pub const ISSUED_CERT_NAME: &str = "Fleetward Device Certificate";

// --- names, ARNs, ids, times ---------------------------------------------------------------

fn arn(scope: &ArnScope, resource: &str) -> String {
    format!("arn:aws:iot:{}:{}:{resource}", scope.region, scope.account)
}

/// `arn:aws:iot:<region>:<account>:thing/<name>`.
pub fn thing_arn(scope: &ArnScope, name: &str) -> String {
    arn(scope, &format!("thing/{name}"))
}

/// `arn:aws:iot:<region>:<account>:thinggroup/<name>`.
pub fn thing_group_arn(scope: &ArnScope, name: &str) -> String {
    arn(scope, &format!("thinggroup/{name}"))
}

/// `arn:aws:iot:<region>:<account>:cert/<id>`.
pub fn certificate_arn(scope: &ArnScope, id: &str) -> String {
    arn(scope, &format!("cert/{id}"))
}

/// `arn:aws:iot:<region>:<account>:policy/<name>`.
pub fn policy_arn(scope: &ArnScope, name: &str) -> String {
    arn(scope, &format!("policy/{name}"))
}

/// The resource id of an ARN of `kind` (`thing`, `thinggroup`, `cert`) in this deployment. An
/// ARN of another region or account names something this server cannot hold, so it is refused
/// rather than looked up by its last segment.
fn parse_arn<'a>(
    scope: &ArnScope,
    member: &str,
    kind: &str,
    value: &'a str,
) -> ServiceResult<&'a str> {
    let bad = |why: &str| ServiceError::invalid(format!("{member}: '{value}' {why}"));
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    let [a, partition, service, region, account, resource] = parts[..] else {
        return Err(bad("is not an ARN"));
    };
    if a != "arn" || partition != "aws" || service != "iot" {
        return Err(bad("is not an AWS IoT ARN"));
    }
    if region != scope.region || account != scope.account {
        return Err(bad(&format!(
            "is not in this deployment's region and account ({}, {})",
            scope.region, scope.account
        )));
    }
    match resource.split_once('/') {
        Some((k, id)) if k == kind && !id.is_empty() => Ok(id),
        _ => Err(bad(&format!("is not a {kind} ARN ({kind}/<id>)"))),
    }
}

/// A stable UUID-shaped id for a thing or group. The store keys them by name only; AWS gives
/// them a UUID. Deriving it from the name and creation time keeps it stable across calls and
/// restarts and different for a deleted-and-recreated resource, without a schema change.
fn resource_id(kind: &str, name: &str, created_at: i64) -> String {
    let digest = Sha256::digest(format!("{kind}\u{0}{name}\u{0}{created_at}").as_bytes());
    let h = hex::encode(&digest[..16]);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn check_name(member: &str, name: &str) -> ServiceResult<()> {
    if fleetward_proto::topic::is_valid_thing_name(name) {
        Ok(())
    } else {
        Err(ServiceError::invalid(format!(
            "{member}: '{name}' must be 1-128 characters of [a-zA-Z0-9:_-]"
        )))
    }
}

/// `[\w+=,.@-]+`, 1–128: policy names.
fn check_policy_name(name: &str) -> ServiceResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::invalid(format!(
            "policyName: '{name}' must be 1-128 characters of [a-zA-Z0-9_+=,.@-]"
        )))
    }
}

/// 64 hex digits, optionally `0x`-led; returns the lowercase form the store keys by.
fn check_cert_id(id: &str) -> ServiceResult<String> {
    let hex = id.strip_prefix("0x").unwrap_or(id);
    if id.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex.to_ascii_lowercase())
    } else {
        Err(ServiceError::invalid(format!(
            "certificateId: '{id}' must be 64 hexadecimal characters"
        )))
    }
}

fn check_attributes(attributes: &BTreeMap<String, String>) -> ServiceResult<()> {
    let mut errors = Vec::new();
    if attributes.len() > MAX_THING_ATTRIBUTES {
        errors.push(format!(
            "attributePayload.attributes: at most {MAX_THING_ATTRIBUTES} attributes for a thing \
             without a thing type, got {}",
            attributes.len()
        ));
    }
    for (k, v) in attributes {
        let key_ok = !k.is_empty()
            && k.len() <= 128
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.,@/:#-".contains(&b));
        if !key_ok {
            errors.push(format!(
                "attributePayload.attributes: key '{k}' must be 1-128 characters of \
                 [a-zA-Z0-9_.,@/:#-]"
            ));
        }
        let value_ok = v.len() <= 800
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.,@/:#=[]-".contains(&b));
        if !value_ok {
            errors.push(format!(
                "attributePayload.attributes.{k}: '{v}' must be at most 800 characters of \
                 [a-zA-Z0-9_.,@/:#=[]-]"
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Invalid(errors))
    }
}

// --- paging --------------------------------------------------------------------------------

/// Validates `maxResults`/`pageSize` (1–250) and builds the store's page request.
fn page_request(
    token: Option<&str>,
    max: Option<u32>,
    member: &'static str,
) -> ServiceResult<PageRequest> {
    Ok(PageRequest::checked(
        token,
        max,
        member,
        PageRequest::MAX_LIMIT,
    )?)
}

fn paging(p: &Paging) -> ServiceResult<PageRequest> {
    Ok(p.request()?)
}

/// One page of `items` in the order of `key`, for listings the store cannot page itself.
fn memory_page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    list: &str,
    page: &PageRequest,
) -> ServiceResult<Page<T>> {
    Ok(fleetward_core::aws::paging::memory_page(
        items, key, list, page,
    )?)
}

/// One page of the store listing `fetch` restricted to the items `keep` accepts. It walks the
/// store's pages, asking each time for only as many items as are still missing, so the store's
/// token after the last page read points exactly past the last item examined.
async fn filtered_page<T, F, Fut>(
    page: &PageRequest,
    mut fetch: F,
    keep: impl Fn(&T) -> bool,
) -> ServiceResult<Page<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = StoreResult<Page<T>>>,
{
    let limit = page.limit() as usize;
    let mut items = Vec::new();
    let mut token = page.next_token.clone();
    loop {
        let want = u32::try_from(limit - items.len()).unwrap_or(PageRequest::MAX_LIMIT);
        let p = fetch(PageRequest {
            next_token: token,
            max_results: Some(want),
        })
        .await?;
        items.extend(p.items.into_iter().filter(|i| keep(i)));
        match p.next_token {
            None => {
                return Ok(Page {
                    items,
                    next_token: None,
                });
            }
            Some(t) if items.len() >= limit => {
                return Ok(Page {
                    items,
                    next_token: Some(t),
                });
            }
            Some(t) => token = Some(t),
        }
    }
}

/// The reverse of [`time_key`]'s order, for newest-first listings.
fn time_key_desc(ms: i64) -> String {
    format!("{:016x}", !((ms as u64) ^ (1 << 63)))
}

// --- things --------------------------------------------------------------------------------

/// `attributePayload`: a thing's (or group's) attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttributePayload {
    /// Name → value.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Only meaningful for UpdateThing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<bool>,
}

/// CreateThing's request (the path's `thingName` included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingRequest {
    /// 1–128 of `[a-zA-Z0-9:_-]`.
    #[serde(default)]
    pub thing_name: String,
    /// Fleetward has no thing types: any value is `ResourceNotFound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<String>,
    /// At most three attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_payload: Option<AttributePayload>,
    /// Fleetward has no billing groups: any value is `ResourceNotFound`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing_group_name: Option<String>,
}

/// CreateThing's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingResponse {
    /// The name.
    pub thing_name: String,
    /// The ARN.
    pub thing_arn: String,
    /// A stable UUID-shaped id.
    pub thing_id: String,
}

/// DescribeThing's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeThingResponse {
    /// The MQTT client id a device of this thing uses by default: the thing name, as in AWS.
    pub default_client_id: String,
    /// The name.
    pub thing_name: String,
    /// A stable UUID-shaped id.
    pub thing_id: String,
    /// The ARN.
    pub thing_arn: String,
    /// The attributes.
    pub attributes: BTreeMap<String, String>,
    /// Starts at 1.
    pub version: i64,
}

/// ListThings' item (`ThingAttribute`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingAttribute {
    /// The name.
    pub thing_name: String,
    /// The ARN.
    pub thing_arn: String,
    /// The attributes.
    pub attributes: BTreeMap<String, String>,
    /// The version.
    pub version: i64,
}

/// ListThings' filters and paging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingsRequest {
    /// Paging.
    #[serde(flatten)]
    pub paging: Paging,
    /// Only things with this attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_name: Option<String>,
    /// …whose value is this (or, with `usePrefixAttributeValue`, starts with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_value: Option<String>,
    /// Only things of this type: none, since Fleetward has no thing types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_type_name: Option<String>,
    /// Prefix match on `attributeValue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_prefix_attribute_value: Option<bool>,
}

/// ListThings' response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingsResponse {
    /// One page of things, by name.
    pub things: Vec<ThingAttribute>,
    /// Present when more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

fn thing_attribute(scope: &ArnScope, t: Thing) -> ThingAttribute {
    ThingAttribute {
        thing_arn: thing_arn(scope, &t.name),
        thing_name: t.name,
        attributes: t.attributes,
        version: t.version,
    }
}

/// CreateThing. Creating an existing thing with the same attributes returns it again;
/// different attributes are `ResourceAlreadyExists`.
pub async fn create_thing(
    ctx: &Ctx,
    req: &CreateThingRequest,
) -> ServiceResult<CreateThingResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_name("thingName", &req.thing_name)?;
    if let Some(t) = &req.thing_type_name {
        check_name("thingTypeName", t)?;
        return Err(ServiceError::not_found(format!(
            "thing type '{t}' does not exist (Fleetward has no thing types)"
        )));
    }
    if let Some(b) = &req.billing_group_name {
        check_name("billingGroupName", b)?;
        return Err(ServiceError::not_found(format!(
            "billing group '{b}' does not exist (Fleetward has no billing groups)"
        )));
    }
    let attributes = req
        .attribute_payload
        .as_ref()
        .map(|p| p.attributes.clone())
        .unwrap_or_default();
    check_attributes(&attributes)?;
    let new = NewThing {
        name: req.thing_name.clone(),
        attributes,
    };
    let thing = match store.create_thing(&new).await {
        Ok(t) => t,
        Err(StoreError::AlreadyExists { .. }) => match store.get_thing(&new.name).await? {
            Some(t) if t.attributes == new.attributes => t,
            _ => {
                return Err(ServiceError::AlreadyExists(format!(
                    "thing '{}' already exists with a different configuration",
                    new.name
                )));
            }
        },
        Err(e) => return Err(e.into()),
    };
    Ok(CreateThingResponse {
        thing_arn: thing_arn(scope, &thing.name),
        thing_id: resource_id("thing", &thing.name, thing.created_at),
        thing_name: thing.name,
    })
}

async fn get_thing(store: &dyn Store, name: &str) -> ServiceResult<Thing> {
    store
        .get_thing(name)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("thing '{name}' does not exist")))
}

/// DescribeThing.
pub async fn describe_thing(ctx: &Ctx, name: &str) -> ServiceResult<DescribeThingResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_name("thingName", name)?;
    let t = get_thing(store, name).await?;
    Ok(DescribeThingResponse {
        default_client_id: t.name.clone(),
        thing_id: resource_id("thing", &t.name, t.created_at),
        thing_arn: thing_arn(scope, &t.name),
        thing_name: t.name,
        attributes: t.attributes,
        version: t.version,
    })
}

/// ListThings, by name, optionally filtered by one attribute.
pub async fn list_things(ctx: &Ctx, req: &ListThingsRequest) -> ServiceResult<ListThingsResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let page = paging(&req.paging)?;
    if let Some(t) = &req.thing_type_name {
        check_name("thingTypeName", t)?;
    }
    let filter = match (&req.attribute_name, &req.attribute_value) {
        (None, None) => None,
        (None, Some(_)) => {
            return Err(ServiceError::invalid(
                "attributeValue: requires attributeName",
            ));
        }
        (Some(n), v) => {
            let mut probe = BTreeMap::new();
            probe.insert(n.clone(), v.clone().unwrap_or_default());
            check_attributes(&probe)?;
            Some((n.clone(), v.clone()))
        }
    };
    let prefix = req.use_prefix_attribute_value.unwrap_or(false);
    let no_type = req.thing_type_name.is_none();
    let keep = |t: &Thing| {
        no_type
            && filter.as_ref().is_none_or(|(n, v)| {
                t.attributes.get(n).is_some_and(|have| match v {
                    None => true,
                    Some(v) if prefix => have.starts_with(v.as_str()),
                    Some(v) => have == v,
                })
            })
    };
    let p = if filter.is_none() && no_type {
        store.list_things(&page).await?
    } else {
        filtered_page(&page, |p| async move { store.list_things(&p).await }, keep).await?
    };
    Ok(ListThingsResponse {
        things: p
            .items
            .into_iter()
            .map(|t| thing_attribute(scope, t))
            .collect(),
        next_token: p.next_token,
    })
}

/// Every thing, for operators (the CLI's listing).
pub async fn all_things(ctx: &Ctx) -> ServiceResult<Vec<ThingAttribute>> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    Ok(
        crate::store::all_pages(|p| async move { store.list_things(&p).await })
            .await?
            .into_iter()
            .map(|t| thing_attribute(scope, t))
            .collect(),
    )
}

/// DeleteThing. A thing that does not exist is already deleted (AWS answers success); one with
/// principals attached is refused, as in AWS, so a certificate is never left pointing nowhere
/// by accident; `expectedVersion` must match when given.
pub async fn delete_thing(
    ctx: &Ctx,
    name: &str,
    expected_version: Option<i64>,
) -> ServiceResult<()> {
    let store = ctx.store();
    check_name("thingName", name)?;
    let Some(t) = store.get_thing(name).await? else {
        return Ok(());
    };
    if let Some(v) = expected_version
        && v != t.version
    {
        return Err(ServiceError::VersionConflict(format!(
            "thing '{name}' is at version {}, not {v}",
            t.version
        )));
    }
    if !store.thing_principals(name).await?.is_empty() {
        return Err(ServiceError::invalid(format!(
            "Cannot delete. Thing {name} is still attached to one or more principals"
        )));
    }
    let deleted = ctx.targeting_changed(match store.delete_thing(name).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    });
    if deleted.is_ok() {
        ctx.changes
            .identity_changed(IdentityChange::Thing(name.to_owned()));
    }
    deleted
}

// --- thing groups --------------------------------------------------------------------------

/// `thingGroupProperties`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingGroupProperties {
    /// Free text, at most 2028 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_description: Option<String>,
    /// Not supported for groups: a non-empty attribute map is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_payload: Option<AttributePayload>,
}

/// CreateThingGroup's request (the path's `thingGroupName` included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingGroupRequest {
    /// 1–128 of `[a-zA-Z0-9:_-]`.
    #[serde(default)]
    pub thing_group_name: String,
    /// The parent, which must exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_group_name: Option<String>,
    /// Description (and attributes, unsupported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_properties: Option<ThingGroupProperties>,
    /// Accepted for compatibility; not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<serde_json::Value>,
}

/// CreateThingGroup's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateThingGroupResponse {
    /// The name.
    pub thing_group_name: String,
    /// The ARN.
    pub thing_group_arn: String,
    /// A stable UUID-shaped id.
    pub thing_group_id: String,
}

/// `GroupNameAndArn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupNameAndArn {
    /// The name.
    pub group_name: String,
    /// The ARN.
    pub group_arn: String,
}

/// `thingGroupMetadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingGroupMetadata {
    /// The parent, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_group_name: Option<String>,
    /// Ancestors from the root down to the parent.
    pub root_to_parent_thing_groups: Vec<GroupNameAndArn>,
    /// Epoch seconds.
    pub creation_date: f64,
}

/// DescribeThingGroup's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeThingGroupResponse {
    /// The name.
    pub thing_group_name: String,
    /// A stable UUID-shaped id.
    pub thing_group_id: String,
    /// The ARN.
    pub thing_group_arn: String,
    /// Starts at 1.
    pub version: i64,
    /// The description.
    pub thing_group_properties: ThingGroupProperties,
    /// Parent, ancestry, creation.
    pub thing_group_metadata: ThingGroupMetadata,
}

/// ListThingGroups' filters and paging.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingGroupsRequest {
    /// Paging.
    #[serde(flatten)]
    pub paging: Paging,
    /// Only this group's children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_group: Option<String>,
    /// Only names starting with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix_filter: Option<String>,
    /// With `parentGroup`: all its descendants, not only its children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<bool>,
}

/// ListThingGroups' response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingGroupsResponse {
    /// One page of groups, by name.
    pub thing_groups: Vec<GroupNameAndArn>,
    /// Present when more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// AddThingToThingGroup's and RemoveThingFromThingGroup's request: each side by name or ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThingGroupMembershipRequest {
    /// The group's name…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_name: Option<String>,
    /// …or its ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_group_arn: Option<String>,
    /// The thing's name…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_name: Option<String>,
    /// …or its ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thing_arn: Option<String>,
    /// Dynamic groups do not exist here; accepted and meaningless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_dynamic_groups: Option<bool>,
}

/// ListThingsInThingGroup's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingsInThingGroupResponse {
    /// One page of thing names.
    pub things: Vec<String>,
    /// Present when more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

fn group_name_and_arn(scope: &ArnScope, name: &str) -> GroupNameAndArn {
    GroupNameAndArn {
        group_name: name.to_owned(),
        group_arn: thing_group_arn(scope, name),
    }
}

async fn get_group(store: &dyn Store, name: &str) -> ServiceResult<ThingGroup> {
    store
        .get_group(name)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("thing group '{name}' does not exist")))
}

/// The ancestors of a group with parent `parent`, root first. Bounded, so corrupted data with a
/// cycle cannot loop forever.
async fn ancestors(store: &dyn Store, parent: Option<String>) -> ServiceResult<Vec<String>> {
    let mut chain = Vec::new();
    let mut next = parent;
    while let Some(name) = next {
        if chain.len() > 64 || chain.contains(&name) {
            return Err(ServiceError::Internal(format!(
                "thing group hierarchy above '{name}' is cyclic or too deep"
            )));
        }
        next = store.get_group(&name).await?.and_then(|g| g.parent);
        chain.push(name);
    }
    chain.reverse();
    Ok(chain)
}

/// CreateThingGroup. The parent must exist (AWS lists no `ResourceNotFound` here, so a missing
/// parent is `InvalidRequest`) and the hierarchy may be at most seven deep. An identical group
/// already existing is returned again.
pub async fn create_thing_group(
    ctx: &Ctx,
    req: &CreateThingGroupRequest,
) -> ServiceResult<CreateThingGroupResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_name("thingGroupName", &req.thing_group_name)?;
    let props = req.thing_group_properties.clone().unwrap_or_default();
    if let Some(d) = &props.thing_group_description
        && (d.chars().count() > MAX_GROUP_DESCRIPTION || d.chars().any(char::is_control))
    {
        return Err(ServiceError::invalid(format!(
            "thingGroupProperties.thingGroupDescription: at most {MAX_GROUP_DESCRIPTION} \
             characters, no control characters"
        )));
    }
    if props
        .attribute_payload
        .as_ref()
        .is_some_and(|p| !p.attributes.is_empty())
    {
        return Err(ServiceError::invalid(
            "thingGroupProperties.attributePayload: thing group attributes are not supported",
        ));
    }
    if let Some(parent) = &req.parent_group_name {
        check_name("parentGroupName", parent)?;
        if store.get_group(parent).await?.is_none() {
            return Err(ServiceError::invalid(format!(
                "parentGroupName: thing group '{parent}' does not exist"
            )));
        }
        let depth = ancestors(store, Some(parent.clone())).await?.len() + 1;
        if depth > MAX_GROUP_DEPTH {
            return Err(ServiceError::invalid(format!(
                "parentGroupName: a thing group hierarchy is at most {MAX_GROUP_DEPTH} levels deep"
            )));
        }
    }
    let new = NewThingGroup {
        name: req.thing_group_name.clone(),
        parent: req.parent_group_name.clone(),
        description: props.thing_group_description,
    };
    let g = match store.create_group(&new).await {
        Ok(g) => g,
        Err(StoreError::AlreadyExists { .. }) => match store.get_group(&new.name).await? {
            Some(g) if g.parent == new.parent && g.description == new.description => g,
            _ => {
                return Err(ServiceError::AlreadyExists(format!(
                    "thing group '{}' already exists with a different configuration",
                    new.name
                )));
            }
        },
        Err(StoreError::NotFound { kind, name }) => {
            return Err(ServiceError::invalid(format!(
                "parentGroupName: {kind} '{name}' does not exist"
            )));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(CreateThingGroupResponse {
        thing_group_arn: thing_group_arn(scope, &g.name),
        thing_group_id: resource_id("thinggroup", &g.name, g.created_at),
        thing_group_name: g.name,
    })
}

/// DescribeThingGroup.
pub async fn describe_thing_group(
    ctx: &Ctx,
    name: &str,
) -> ServiceResult<DescribeThingGroupResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_name("thingGroupName", name)?;
    let g = get_group(store, name).await?;
    let chain = ancestors(store, g.parent.clone()).await?;
    Ok(DescribeThingGroupResponse {
        thing_group_id: resource_id("thinggroup", &g.name, g.created_at),
        thing_group_arn: thing_group_arn(scope, &g.name),
        version: g.version,
        thing_group_properties: ThingGroupProperties {
            thing_group_description: g.description,
            attribute_payload: None,
        },
        thing_group_metadata: ThingGroupMetadata {
            parent_group_name: g.parent,
            root_to_parent_thing_groups: chain
                .iter()
                .map(|n| group_name_and_arn(scope, n))
                .collect(),
            creation_date: fleetward_core::aws::seconds(g.created_at),
        },
        thing_group_name: g.name,
    })
}

/// ListThingGroups: every group, a parent's children, or (`recursive`) a parent's descendants,
/// optionally by name prefix.
pub async fn list_thing_groups(
    ctx: &Ctx,
    req: &ListThingGroupsRequest,
) -> ServiceResult<ListThingGroupsResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let page = paging(&req.paging)?;
    if let Some(p) = &req.parent_group {
        check_name("parentGroup", p)?;
        get_group(store, p).await?;
    }
    if let Some(p) = &req.name_prefix_filter {
        check_name("namePrefixFilter", p)?;
    }
    let prefix = req.name_prefix_filter.clone().unwrap_or_default();
    let keep = |g: &ThingGroup| g.name.starts_with(&prefix);
    let parent = req.parent_group.as_deref();
    let p = match parent {
        Some(root) if req.recursive.unwrap_or(false) => {
            let all = crate::store::all_pages(|p| async move { store.list_groups(None, &p).await })
                .await?;
            let mut inside = vec![root.to_owned()];
            let mut found = Vec::new();
            // Breadth-first over the parent links; `all` is small (operators' groups).
            while let Some(name) = inside.pop() {
                for g in all
                    .iter()
                    .filter(|g| g.parent.as_deref() == Some(name.as_str()))
                {
                    if !found.iter().any(|f: &ThingGroup| f.name == g.name) {
                        inside.push(g.name.clone());
                        found.push(g.clone());
                    }
                }
            }
            found.retain(keep);
            found.sort_by(|a, b| a.name.cmp(&b.name));
            memory_page(found, |g| g.name.clone(), "thing-groups-recursive", &page)?
        }
        _ => {
            filtered_page(
                &page,
                |p| async move { store.list_groups(parent, &p).await },
                keep,
            )
            .await?
        }
    };
    Ok(ListThingGroupsResponse {
        thing_groups: p
            .items
            .iter()
            .map(|g| group_name_and_arn(scope, &g.name))
            .collect(),
        next_token: p.next_token,
    })
}

/// Every group with its parent, for operators (the CLI's listing).
pub async fn all_thing_groups(ctx: &Ctx) -> ServiceResult<Vec<ThingGroup>> {
    let store = ctx.store();
    Ok(crate::store::all_pages(|p| async move { store.list_groups(None, &p).await }).await?)
}

/// Resolves one side of a membership request: the name, or the ARN's last segment; both
/// given must agree.
fn name_or_arn(
    scope: &ArnScope,
    name: Option<&str>,
    arn: Option<&str>,
    (name_member, arn_member, kind): (&str, &str, &str),
) -> ServiceResult<String> {
    let from_arn = arn
        .map(|a| parse_arn(scope, arn_member, kind, a))
        .transpose()?;
    match (name, from_arn) {
        (None, None) => Err(ServiceError::invalid(format!(
            "{name_member} or {arn_member} is required"
        ))),
        (Some(n), Some(a)) if n != a => Err(ServiceError::invalid(format!(
            "{name_member} '{n}' and {arn_member} name different resources"
        ))),
        (Some(n), _) => {
            check_name(name_member, n)?;
            Ok(n.to_owned())
        }
        (None, Some(a)) => {
            check_name(arn_member, a)?;
            Ok(a.to_owned())
        }
    }
}

fn membership(
    scope: &ArnScope,
    req: &ThingGroupMembershipRequest,
) -> ServiceResult<(String, String)> {
    let group = name_or_arn(
        scope,
        req.thing_group_name.as_deref(),
        req.thing_group_arn.as_deref(),
        ("thingGroupName", "thingGroupArn", "thinggroup"),
    )?;
    let thing = name_or_arn(
        scope,
        req.thing_name.as_deref(),
        req.thing_arn.as_deref(),
        ("thingName", "thingArn", "thing"),
    )?;
    Ok((group, thing))
}

/// AddThingToThingGroup. Both must exist. As in AWS, a thing is directly in at most ten groups
/// and in at most one group of a hierarchy (so the groups covering a thing form chains, and a
/// profile attached to a hierarchy's root applies once). Adding a member again is a no-op.
pub async fn add_thing_to_thing_group(
    ctx: &Ctx,
    req: &ThingGroupMembershipRequest,
) -> ServiceResult<()> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let (group, thing) = membership(scope, req)?;
    let g = get_group(store, &group).await?;
    get_thing(store, &thing).await?;
    let current = store.groups_of_thing(&thing).await?;
    if current.contains(&group) {
        return Ok(());
    }
    if current.len() >= MAX_GROUPS_PER_THING {
        return Err(ServiceError::invalid(format!(
            "thing '{thing}' is already in {MAX_GROUPS_PER_THING} thing groups, the most allowed"
        )));
    }
    let root = |chain: Vec<String>, own: &str| chain.first().cloned().unwrap_or(own.to_owned());
    let target_root = root(ancestors(store, g.parent.clone()).await?, &g.name);
    for other in &current {
        let parent = store.get_group(other).await?.and_then(|o| o.parent);
        if root(ancestors(store, parent).await?, other) == target_root {
            return Err(ServiceError::invalid(format!(
                "thing '{thing}' is already in thing group '{other}' of the same hierarchy \
                 (rooted at '{target_root}'); a thing can be in only one group of a hierarchy"
            )));
        }
    }
    store.add_thing_to_group(&group, &thing).await?;
    ctx.targeting_changed(Ok(()))
}

/// RemoveThingFromThingGroup. Both must exist; removing a non-member is a no-op.
pub async fn remove_thing_from_thing_group(
    ctx: &Ctx,
    req: &ThingGroupMembershipRequest,
) -> ServiceResult<()> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let (group, thing) = membership(scope, req)?;
    get_group(store, &group).await?;
    get_thing(store, &thing).await?;
    store.remove_thing_from_group(&group, &thing).await?;
    ctx.targeting_changed(Ok(()))
}

/// ListThingsInThingGroup, directly or (`recursive`) in the group and its descendants.
pub async fn list_things_in_thing_group(
    ctx: &Ctx,
    group: &str,
    recursive: bool,
    paging_: &Paging,
) -> ServiceResult<ListThingsInThingGroupResponse> {
    let store = ctx.store();
    check_name("thingGroupName", group)?;
    let page = paging(paging_)?;
    let p = store.list_things_in_group(group, recursive, &page).await?;
    Ok(ListThingsInThingGroupResponse {
        things: p.items,
        next_token: p.next_token,
    })
}

/// DeleteThingGroup. Like DeleteThing, a group that does not exist is already deleted; one with
/// child groups is refused (`InvalidRequest`: the model lists no conflict error here);
/// `expectedVersion` must match when given. Memberships go with the group.
pub async fn delete_thing_group(
    ctx: &Ctx,
    name: &str,
    expected_version: Option<i64>,
) -> ServiceResult<()> {
    let store = ctx.store();
    check_name("thingGroupName", name)?;
    let Some(g) = store.get_group(name).await? else {
        return Ok(());
    };
    if let Some(v) = expected_version
        && v != g.version
    {
        return Err(ServiceError::VersionConflict(format!(
            "thing group '{name}' is at version {}, not {v}",
            g.version
        )));
    }
    ctx.targeting_changed(match store.delete_group(name).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(StoreError::Conflict(m)) => Err(ServiceError::invalid(format!(
            "Cannot delete thing group {name}: {m}"
        ))),
        Err(e) => Err(e.into()),
    })
}

/// ListThingGroupsForThing: the groups a thing is directly in, by name.
pub async fn list_thing_groups_for_thing(
    ctx: &Ctx,
    thing: &str,
    paging_: &Paging,
) -> ServiceResult<ListThingGroupsResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_name("thingName", thing)?;
    let page = paging(paging_)?;
    let groups = store.groups_of_thing(thing).await?;
    let p = memory_page(groups, Clone::clone, "thing-groups-for-thing", &page)?;
    Ok(ListThingGroupsResponse {
        thing_groups: p
            .items
            .iter()
            .map(|g| group_name_and_arn(scope, g))
            .collect(),
        next_token: p.next_token,
    })
}

// --- certificates --------------------------------------------------------------------------

/// `keyPair` of CreateKeysAndCertificate (AWS spells these two members in PascalCase).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    /// SPKI, PEM.
    #[serde(rename = "PublicKey")]
    pub public_key: String,
    /// PKCS#8, PEM. Shown once, never stored.
    #[serde(rename = "PrivateKey")]
    pub private_key: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_key", &self.public_key)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// CreateKeysAndCertificate's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateKeysAndCertificateResponse {
    /// The ARN.
    pub certificate_arn: String,
    /// SHA-256 of the DER, 64 hex.
    pub certificate_id: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The key pair.
    pub key_pair: KeyPair,
}

/// RegisterCertificate's request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCertificateRequest {
    /// The device certificate, PEM.
    #[serde(default)]
    pub certificate_pem: String,
    /// The CA that signed it, PEM; it must be registered. Without it, any registered CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_pem: Option<String>,
    /// Deprecated: `true` means ACTIVE. `status` wins when both are given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_as_active: Option<bool>,
    /// ACTIVE, INACTIVE or REVOKED (the model's other values are AWS-internal states).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// RegisterCertificate's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterCertificateResponse {
    /// The ARN.
    pub certificate_arn: String,
    /// The id.
    pub certificate_id: String,
}

/// `validity` of a certificate description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateValidity {
    /// Epoch seconds.
    pub not_before: f64,
    /// Epoch seconds.
    pub not_after: f64,
}

/// `certificateDescription`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateDescription {
    /// The ARN.
    pub certificate_arn: String,
    /// The id.
    pub certificate_id: String,
    /// The registered CA that signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_certificate_id: Option<String>,
    /// ACTIVE, INACTIVE or REVOKED.
    pub status: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// This deployment's account.
    pub owned_by: String,
    /// Epoch seconds.
    pub creation_date: f64,
    /// Validity period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<CertificateValidity>,
    /// Always `DEFAULT`: every certificate is registered with a CA.
    pub certificate_mode: String,
}

/// DescribeCertificate's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeCertificateResponse {
    /// The description.
    pub certificate_description: CertificateDescription,
}

/// ListCertificates' item (`Certificate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSummary {
    /// The ARN.
    pub certificate_arn: String,
    /// The id.
    pub certificate_id: String,
    /// The status.
    pub status: String,
    /// Always `DEFAULT`.
    pub certificate_mode: String,
    /// Epoch seconds.
    pub creation_date: f64,
}

/// ListCertificates' and ListPolicies' paging: AWS's older `marker`/`pageSize` style.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkerPaging {
    /// The `nextMarker` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marker: Option<String>,
    /// 1–250.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
    /// Oldest first instead of newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ascending_order: Option<bool>,
}

/// ListCertificates' response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCertificatesResponse {
    /// One page of certificates, by creation date.
    pub certificates: Vec<CertificateSummary>,
    /// Present when more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

fn status_for_new(set_as_active: bool) -> CertStatus {
    if set_as_active {
        CertStatus::Active
    } else {
        CertStatus::Inactive
    }
}

fn certificate_row(
    facts: &CertFacts,
    pem: &str,
    status: CertStatus,
    ca_id: Option<String>,
    now_ms: i64,
) -> Certificate {
    Certificate {
        id: facts.id.clone(),
        pem: pem.to_owned(),
        status,
        ca_id,
        subject: facts.subject.clone(),
        serial: facts.serial.clone(),
        not_after: facts.not_after,
        created_at: now_ms,
    }
}

/// CreateKeysAndCertificate: a fresh P-256 key and a certificate from the Fleetward CA,
/// registered ACTIVE with `set_as_active`, else INACTIVE (AWS's default). The private key is
/// returned once and never stored. `common_name` names the certificate's subject
/// (`fleetward certs create --thing` names it after its thing, which makes certificates
/// recognisable in TLS logs); AWS's API gives none, and then it is [`ISSUED_CERT_NAME`].
/// `ServiceUnavailable` when this process has no CA loaded.
pub async fn create_keys_and_certificate(
    ctx: &Ctx,
    common_name: Option<&str>,
    set_as_active: bool,
) -> ServiceResult<CreateKeysAndCertificateResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let Some(ca) = ctx.ca.as_deref() else {
        return Err(ServiceError::Unavailable(
            "this server has no certificate authority to issue certificates with".to_owned(),
        ));
    };
    let common_name = common_name.unwrap_or(ISSUED_CERT_NAME);
    let internal = |e: String| ServiceError::Internal(e);
    let issued = ca
        .issue_device(common_name)
        .map_err(|e| internal(e.to_string()))?;
    let public_key = rcgen::KeyPair::from_pem(&issued.key_pem)
        .map_err(|e| internal(e.to_string()))?
        .public_key_pem();
    let cert = certificate_row(
        &issued.facts,
        &issued.cert_pem,
        status_for_new(set_as_active),
        Some(ca.facts().id.clone()),
        ctx.now_ms(),
    );
    store.insert_certificate(&cert).await?;
    Ok(CreateKeysAndCertificateResponse {
        certificate_arn: certificate_arn(scope, &cert.id),
        certificate_id: cert.id,
        certificate_pem: issued.cert_pem,
        key_pair: KeyPair {
            public_key,
            private_key: issued.key_pem,
        },
    })
}

/// The status a RegisterCertificate request asks for.
fn register_status(req: &RegisterCertificateRequest) -> ServiceResult<CertStatus> {
    match &req.status {
        None => Ok(status_for_new(req.set_as_active.unwrap_or(false))),
        Some(s) => parse_settable_status("status", s),
    }
}

/// ACTIVE, INACTIVE or REVOKED. The model's other values are states AWS sets itself (transfers,
/// just-in-time registration), which Fleetward has no use for.
fn parse_settable_status(member: &str, s: &str) -> ServiceResult<CertStatus> {
    if let Some(status) = CertStatus::parse(s) {
        return Ok(status);
    }
    let why = if matches!(
        s,
        "PENDING_TRANSFER" | "REGISTER_INACTIVE" | "PENDING_ACTIVATION"
    ) {
        "cannot be set here; use ACTIVE, INACTIVE or REVOKED"
    } else {
        "must be one of ACTIVE, INACTIVE, REVOKED, PENDING_TRANSFER, REGISTER_INACTIVE, \
         PENDING_ACTIVATION"
    };
    Err(ServiceError::invalid(format!("{member}: '{s}' {why}")))
}

fn check_pem(member: &str, pem: &str) -> ServiceResult<()> {
    if pem.is_empty() || pem.len() > MAX_PEM {
        return Err(ServiceError::invalid(format!(
            "{member}: 1-{MAX_PEM} characters"
        )));
    }
    Ok(())
}

/// Finds the registered CA that signed `pem`: the one given (which must be registered), else
/// any registered CA. An inactive issuer is a state problem, not a validation one.
fn find_issuer<'a>(
    pem: &str,
    ca_pem: Option<&str>,
    cas: &'a [CaCertificate],
) -> ServiceResult<&'a CaCertificate> {
    let candidates: Vec<&CaCertificate> = match ca_pem {
        Some(ca_pem) => {
            let ca_facts = CertFacts::from_pem(ca_pem).map_err(|e| {
                ServiceError::CertificateValidation(format!("caCertificatePem: {e}"))
            })?;
            let registered: Vec<&CaCertificate> =
                cas.iter().filter(|c| c.id == ca_facts.id).collect();
            if registered.is_empty() {
                return Err(ServiceError::CertificateValidation(format!(
                    "caCertificatePem: CA certificate {} is not registered",
                    ca_facts.id
                )));
            }
            registered
        }
        None => cas.iter().collect(),
    };
    let signers: Vec<&CaCertificate> = candidates
        .into_iter()
        .filter(|c| verify_issued_by(pem, &c.pem))
        .collect();
    if let Some(active) = signers.iter().find(|c| c.status == CertStatus::Active) {
        return Ok(active);
    }
    match signers.first() {
        Some(c) => Err(ServiceError::CertificateState(format!(
            "the issuing CA certificate {} is {}, not ACTIVE",
            c.id,
            c.status.as_str()
        ))),
        None => Err(ServiceError::CertificateValidation(
            if ca_pem.is_some() {
                "the certificate is not signed by caCertificatePem"
            } else {
                "the certificate is not signed by a registered CA certificate"
            }
            .to_owned(),
        )),
    }
}

/// RegisterCertificate: a device certificate signed by a registered CA. The PEM must parse, be
/// a leaf and be within its validity period now.
pub async fn register_certificate(
    ctx: &Ctx,
    req: &RegisterCertificateRequest,
) -> ServiceResult<RegisterCertificateResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_pem("certificatePem", &req.certificate_pem)?;
    if let Some(ca) = &req.ca_certificate_pem {
        check_pem("caCertificatePem", ca)?;
    }
    let status = register_status(req)?;
    let facts = CertFacts::from_pem(&req.certificate_pem)
        .map_err(|e| ServiceError::CertificateValidation(format!("certificatePem: {e}")))?;
    if facts.is_ca {
        return Err(ServiceError::CertificateValidation(
            "certificatePem: a CA certificate cannot be registered as a device certificate".into(),
        ));
    }
    let now = ctx.now_ms();
    if now < facts.not_before || now > facts.not_after {
        return Err(ServiceError::CertificateValidation(
            "certificatePem: the certificate is not within its validity period".into(),
        ));
    }
    let cas = store.list_cas().await?;
    let issuer = find_issuer(
        &req.certificate_pem,
        req.ca_certificate_pem.as_deref(),
        &cas,
    )?;
    let cert = certificate_row(
        &facts,
        &req.certificate_pem,
        status,
        Some(issuer.id.clone()),
        ctx.now_ms(),
    );
    store.insert_certificate(&cert).await?;
    Ok(RegisterCertificateResponse {
        certificate_arn: certificate_arn(scope, &cert.id),
        certificate_id: cert.id,
    })
}

async fn get_certificate(store: &dyn Store, id: &str) -> ServiceResult<Certificate> {
    let id = check_cert_id(id)?;
    store
        .get_certificate(&id)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("certificate '{id}' does not exist")))
}

/// DescribeCertificate.
pub async fn describe_certificate(
    ctx: &Ctx,
    id: &str,
) -> ServiceResult<DescribeCertificateResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let c = get_certificate(store, id).await?;
    let validity = CertFacts::from_pem(&c.pem)
        .ok()
        .map(|f| CertificateValidity {
            not_before: fleetward_core::aws::seconds(f.not_before),
            not_after: fleetward_core::aws::seconds(f.not_after),
        });
    Ok(DescribeCertificateResponse {
        certificate_description: CertificateDescription {
            certificate_arn: certificate_arn(scope, &c.id),
            certificate_id: c.id,
            ca_certificate_id: c.ca_id,
            status: c.status.as_str().to_owned(),
            certificate_pem: c.pem,
            owned_by: scope.account.clone(),
            creation_date: fleetward_core::aws::seconds(c.created_at),
            validity,
            certificate_mode: "DEFAULT".to_owned(),
        },
    })
}

fn certificate_summary(scope: &ArnScope, c: &Certificate) -> CertificateSummary {
    CertificateSummary {
        certificate_arn: certificate_arn(scope, &c.id),
        certificate_id: c.id.clone(),
        status: c.status.as_str().to_owned(),
        certificate_mode: "DEFAULT".to_owned(),
        creation_date: fleetward_core::aws::seconds(c.created_at),
    }
}

/// ListCertificates, newest first (or oldest first with `ascendingOrder`).
pub async fn list_certificates(
    ctx: &Ctx,
    req: &MarkerPaging,
) -> ServiceResult<ListCertificatesResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let page = page_request(req.marker.as_deref(), req.page_size, "pageSize")?;
    let p = if req.ascending_order.unwrap_or(false) {
        // The store pages newest first only; oldest first is paged here.
        let mut all =
            crate::store::all_pages(|p| async move { store.list_certificates(&p).await }).await?;
        all.reverse();
        memory_page(
            all,
            |c| {
                format!(
                    "{}{}",
                    fleetward_core::aws::paging::time_key(c.created_at),
                    c.id
                )
            },
            "certificates-ascending",
            &page,
        )?
    } else {
        store.list_certificates(&page).await?
    };
    Ok(ListCertificatesResponse {
        certificates: p
            .items
            .iter()
            .map(|c| certificate_summary(scope, c))
            .collect(),
        next_marker: p.next_token,
    })
}

/// Every certificate, newest first, for operators (the CLI's listing).
pub async fn all_certificates(ctx: &Ctx) -> ServiceResult<Vec<Certificate>> {
    let store = ctx.store();
    Ok(crate::store::all_pages(|p| async move { store.list_certificates(&p).await }).await?)
}

/// UpdateCertificate. A REVOKED certificate stays revoked (`CertificateState`); the model's
/// AWS-internal states cannot be set.
pub async fn update_certificate(ctx: &Ctx, id: &str, new_status: &str) -> ServiceResult<()> {
    let store = ctx.store();
    let status = parse_settable_status("newStatus", new_status)?;
    let c = get_certificate(store, id).await?;
    if c.status == CertStatus::Revoked && status != CertStatus::Revoked {
        return Err(ServiceError::CertificateState(format!(
            "certificate {} is REVOKED and cannot become {}",
            c.id,
            status.as_str()
        )));
    }
    store.set_certificate_status(&c.id, status).await?;
    ctx.changes
        .identity_changed(IdentityChange::Certificate(c.id));
    Ok(())
}

// --- principals ----------------------------------------------------------------------------

/// ListThingPrincipals' response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListThingPrincipalsResponse {
    /// Certificate ARNs.
    pub principals: Vec<String>,
    /// Present when more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// The certificate id a principal ARN names. Fleetward's only principals are certificates.
fn principal_cert_id(scope: &ArnScope, principal: &str) -> ServiceResult<String> {
    let id = parse_arn(scope, "principal", "cert", principal)?;
    check_cert_id(id)
}

/// AttachThingPrincipal: attaches a certificate (by ARN) to a thing; both must exist.
/// `thingPrincipalType` `EXCLUSIVE_THING` is refused: Fleetward does not record exclusivity,
/// and accepting it without enforcing it later would be a silent lie.
pub async fn attach_thing_principal(
    ctx: &Ctx,
    thing: &str,
    principal: &str,
    thing_principal_type: Option<&str>,
) -> ServiceResult<()> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_name("thingName", thing)?;
    match thing_principal_type {
        None | Some("NON_EXCLUSIVE_THING") => {}
        Some("EXCLUSIVE_THING") => {
            return Err(ServiceError::invalid(
                "thingPrincipalType: EXCLUSIVE_THING is not supported; use NON_EXCLUSIVE_THING",
            ));
        }
        Some(other) => {
            return Err(ServiceError::invalid(format!(
                "thingPrincipalType: '{other}' must be EXCLUSIVE_THING or NON_EXCLUSIVE_THING"
            )));
        }
    }
    let cert_id = principal_cert_id(scope, principal)?;
    get_thing(store, thing).await?;
    get_certificate(store, &cert_id).await?;
    store.attach_thing_principal(thing, &cert_id).await?;
    Ok(())
}

/// DetachThingPrincipal: the inverse, so a thing can be emptied and deleted over the API.
pub async fn detach_thing_principal(ctx: &Ctx, thing: &str, principal: &str) -> ServiceResult<()> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_name("thingName", thing)?;
    let cert_id = principal_cert_id(scope, principal)?;
    get_thing(store, thing).await?;
    get_certificate(store, &cert_id).await?;
    store.detach_thing_principal(thing, &cert_id).await?;
    ctx.changes
        .identity_changed(IdentityChange::Certificate(cert_id));
    Ok(())
}

/// ListThingPrincipals: the ARNs of the certificates attached to a thing.
pub async fn list_thing_principals(
    ctx: &Ctx,
    thing: &str,
    paging_: &Paging,
) -> ServiceResult<ListThingPrincipalsResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_name("thingName", thing)?;
    let page = paging(paging_)?;
    let ids = store.thing_principals(thing).await?;
    let p = memory_page(ids, Clone::clone, "thing-principals", &page)?;
    Ok(ListThingPrincipalsResponse {
        principals: p
            .items
            .iter()
            .map(|id| certificate_arn(scope, id))
            .collect(),
        next_token: p.next_token,
    })
}

/// ListPrincipalThings' response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPrincipalThingsResponse {
    /// Thing names.
    pub things: Vec<String>,
    /// Present when more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListPrincipalThings: the things a certificate (by ARN) is attached to.
pub async fn list_principal_things(
    ctx: &Ctx,
    principal: &str,
    paging_: &Paging,
) -> ServiceResult<ListPrincipalThingsResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let page = paging(paging_)?;
    let cert_id = principal_cert_id(scope, principal)?;
    let things = store.principal_things(&cert_id).await?;
    let p = memory_page(things, Clone::clone, "principal-things", &page)?;
    Ok(ListPrincipalThingsResponse {
        things: p.items,
        next_token: p.next_token,
    })
}

// --- policies ------------------------------------------------------------------------------

/// CreatePolicy's request (the path's `policyName` included).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePolicyRequest {
    /// 1–128 of `[\w+=,.@-]`.
    #[serde(default)]
    pub policy_name: String,
    /// The AWS IoT policy document (JSON text).
    #[serde(default)]
    pub policy_document: String,
    /// Accepted for compatibility; not stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<serde_json::Value>,
}

/// CreatePolicy's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePolicyResponse {
    /// The name.
    pub policy_name: String,
    /// The ARN.
    pub policy_arn: String,
    /// The document, verbatim.
    pub policy_document: String,
    /// Always "1": policies are not versioned.
    pub policy_version_id: String,
}

/// GetPolicy's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetPolicyResponse {
    /// The name.
    pub policy_name: String,
    /// The ARN.
    pub policy_arn: String,
    /// The document, verbatim.
    pub policy_document: String,
    /// Always "1".
    pub default_version_id: String,
    /// Epoch seconds.
    pub creation_date: f64,
    /// Epoch seconds; a policy never changes after creation, so the creation date.
    pub last_modified_date: f64,
}

/// ListPolicies' item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicySummary {
    /// The name.
    pub policy_name: String,
    /// The ARN.
    pub policy_arn: String,
}

/// ListPolicies' response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPoliciesResponse {
    /// One page of policies, by creation date.
    pub policies: Vec<PolicySummary>,
    /// Present when more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// CreatePolicy. The document must be a policy the broker's evaluator understands exactly
/// (`MalformedPolicy` otherwise, with the offending field), so what is stored is what is
/// enforced.
pub async fn create_policy(
    ctx: &Ctx,
    req: &CreatePolicyRequest,
) -> ServiceResult<CreatePolicyResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_policy_name(&req.policy_name)?;
    if req.policy_document.len() > MAX_POLICY_DOCUMENT {
        return Err(ServiceError::invalid(format!(
            "policyDocument: at most {MAX_POLICY_DOCUMENT} characters"
        )));
    }
    PolicyDocument::parse(&req.policy_document)
        .map_err(|e| ServiceError::MalformedPolicy(format!("policyDocument: {e}")))?;
    let p = store
        .create_policy(&NewPolicy {
            name: req.policy_name.clone(),
            document: req.policy_document.clone(),
        })
        .await?;
    Ok(CreatePolicyResponse {
        policy_arn: policy_arn(scope, &p.name),
        policy_name: p.name,
        policy_document: p.document,
        policy_version_id: p.version,
    })
}

async fn get_policy_row(store: &dyn Store, name: &str) -> ServiceResult<Policy> {
    check_policy_name(name)?;
    store
        .get_policy(name)
        .await?
        .ok_or_else(|| ServiceError::not_found(format!("policy '{name}' does not exist")))
}

/// GetPolicy.
pub async fn get_policy(ctx: &Ctx, name: &str) -> ServiceResult<GetPolicyResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let p = get_policy_row(store, name).await?;
    Ok(GetPolicyResponse {
        policy_arn: policy_arn(scope, &p.name),
        policy_name: p.name,
        policy_document: p.document,
        default_version_id: p.version,
        creation_date: fleetward_core::aws::seconds(p.created_at),
        last_modified_date: fleetward_core::aws::seconds(p.created_at),
    })
}

/// ListPolicies, newest first (oldest first with `ascendingOrder`), as AWS orders them.
pub async fn list_policies(ctx: &Ctx, req: &MarkerPaging) -> ServiceResult<ListPoliciesResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let page = page_request(req.marker.as_deref(), req.page_size, "pageSize")?;
    let ascending = req.ascending_order.unwrap_or(false);
    // The store orders policies by name; creation order is built here (policies are few).
    let key = |p: &Policy| {
        let t = if ascending {
            fleetward_core::aws::paging::time_key(p.created_at)
        } else {
            time_key_desc(p.created_at)
        };
        format!("{t}{}", p.name)
    };
    let mut all = crate::store::all_pages(|p| async move { store.list_policies(&p).await }).await?;
    all.sort_by_key(|p| key(p));
    let list = if ascending {
        "policies-ascending"
    } else {
        "policies-descending"
    };
    let p = memory_page(all, key, list, &page)?;
    Ok(ListPoliciesResponse {
        policies: p
            .items
            .iter()
            .map(|p| PolicySummary {
                policy_name: p.name.clone(),
                policy_arn: policy_arn(scope, &p.name),
            })
            .collect(),
        next_marker: p.next_token,
    })
}

/// AttachPolicy: attaches a policy to a certificate (by ARN, the only target Fleetward's
/// broker evaluates policies for); at most ten per certificate. Attaching again is a no-op.
pub async fn attach_policy(ctx: &Ctx, policy: &str, target: &str) -> ServiceResult<()> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let p = get_policy_row(store, policy).await?;
    let cert_id = check_cert_id(parse_arn(scope, "target", "cert", target)?)?;
    get_certificate(store, &cert_id).await?;
    let attached = store.principal_policies(&cert_id).await?;
    if attached.iter().any(|a| a.name == p.name) {
        return Ok(());
    }
    if attached.len() >= MAX_POLICIES_PER_CERT {
        return Err(ServiceError::LimitExceeded(format!(
            "certificate {cert_id} already has {MAX_POLICIES_PER_CERT} policies attached"
        )));
    }
    store.attach_policy(&p.name, &cert_id).await?;
    ctx.changes
        .identity_changed(IdentityChange::Certificate(cert_id));
    Ok(())
}

/// DetachPolicy: detaches a policy from a certificate (by ARN). Sessions of that certificate
/// are re-checked at once and lose what the policy granted (closed, when it granted the
/// connection itself). Detaching what is not attached succeeds, as in AWS.
pub async fn detach_policy(ctx: &Ctx, policy: &str, target: &str) -> ServiceResult<()> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_policy_name(policy)?;
    let cert_id = check_cert_id(parse_arn(scope, "target", "cert", target)?)?;
    if store.detach_policy(policy, &cert_id).await? {
        ctx.changes
            .identity_changed(IdentityChange::Certificate(cert_id));
    }
    Ok(())
}

/// DeletePolicy: refused with `DeleteConflictException` while the policy is attached to a
/// certificate, as in AWS, so a delete never changes what a live session may do.
pub async fn delete_policy(ctx: &Ctx, name: &str) -> ServiceResult<()> {
    check_policy_name(name)?;
    match ctx.store().delete_policy(name).await {
        Err(StoreError::Conflict(m)) => Err(ServiceError::DeleteConflict(m)),
        r => Ok(r?),
    }
}

/// ListTargetsForPolicy's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTargetsForPolicyResponse {
    /// Certificate ARNs the policy is attached to.
    pub targets: Vec<String>,
    /// Present when more pages follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
}

/// ListTargetsForPolicy: the certificates (by ARN) a policy is attached to.
pub async fn list_targets_for_policy(
    ctx: &Ctx,
    policy: &str,
    req: &MarkerPaging,
) -> ServiceResult<ListTargetsForPolicyResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    check_policy_name(policy)?;
    let page = page_request(req.marker.as_deref(), req.page_size, "pageSize")?;
    let targets = store.policy_targets(policy).await?;
    let p = memory_page(targets, Clone::clone, "policy-targets", &page)?;
    Ok(ListTargetsForPolicyResponse {
        targets: p
            .items
            .iter()
            .map(|id| certificate_arn(scope, id))
            .collect(),
        next_marker: p.next_token,
    })
}

/// ListAttachedPolicies: the policies attached to a certificate (by ARN), by name. `recursive`
/// is about thing-group hierarchies, which certificates do not have.
pub async fn list_attached_policies(
    ctx: &Ctx,
    target: &str,
    req: &MarkerPaging,
) -> ServiceResult<ListPoliciesResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let page = page_request(req.marker.as_deref(), req.page_size, "pageSize")?;
    let cert_id = check_cert_id(parse_arn(scope, "target", "cert", target)?)?;
    let mut policies = store.principal_policies(&cert_id).await?;
    policies.sort_by(|a, b| a.name.cmp(&b.name));
    let p = memory_page(policies, |p| p.name.clone(), "attached-policies", &page)?;
    Ok(ListPoliciesResponse {
        policies: p
            .items
            .iter()
            .map(|p| PolicySummary {
                policy_name: p.name.clone(),
                policy_arn: policy_arn(scope, &p.name),
            })
            .collect(),
        next_marker: p.next_token,
    })
}

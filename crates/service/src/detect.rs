//! The admin service layer: security profiles, targets, custom metrics, dimensions and
//! violations, in AWS's request and response shapes.
//!
//! Both the CLI (`fleetward profiles …`) and the AWS-compatible HTTP routes call these
//! functions, so every rule (names, validation, the five-profiles-per-target limit, versions)
//! lives here once and the transports only parse and print. Requests and responses are serde
//! structs with AWS's camelCase field names, so a document written for `aws iot
//! create-security-profile` deserializes unchanged. Times in responses are epoch *seconds*
//! (fractional), as AWS's rest-json protocol writes timestamps; the store keeps milliseconds.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use fleetward_core::aws::paging::memory_page;
pub use fleetward_core::aws::{ArnScope, Paging};

use crate::Ctx;
use crate::error::{ServiceError, ServiceResult};
use crate::store::{
    self, NewCustomMetric, NewDimension, NewSecurityProfile, PageRequest, Store, StoreError,
    ViolationEventFilter,
};
use fleetward_core::detect::model::{Behavior, CustomMetricType, Dimension, DimensionType};
use fleetward_core::detect::targets::{Target, check_attach_limit};
use fleetward_core::detect::validate::validate_behaviors;

/// Longest `securityProfileDescription` AWS accepts.
const MAX_DESCRIPTION: usize = 1000;
/// Longest custom metric `displayName` AWS accepts.
const MAX_DISPLAY_NAME: usize = 128;
/// Most values a dimension may have.
const MAX_DIMENSION_VALUES: usize = 100;
/// Longest dimension value.
const MAX_DIMENSION_VALUE_LEN: usize = 256;

// --- security profiles ---------------------------------------------------------------------

/// A CreateSecurityProfile request body plus its path parameter, as one document:
/// `fleetward profiles apply -f` takes exactly what `aws iot create-security-profile
/// --cli-input-json` takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecurityProfileRequest {
    /// 1–128 of `[a-zA-Z0-9:_-]`.
    pub security_profile_name: String,
    /// At most 1000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_profile_description: Option<String>,
    /// AWS `Behavior` documents. Kept as JSON here so a malformed behavior is reported with
    /// its path (`behaviors[2]: …`) alongside every other problem, not as one serde failure.
    #[serde(default)]
    pub behaviors: Vec<Value>,
    /// `{"SNS": {"alertTargetArn", "roleArn"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_targets: Option<Value>,
    /// Deprecated list of metric names; folded into `additionalMetricsToRetainV2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_metrics_to_retain: Option<Vec<String>>,
    /// `[{metric, metricDimension?, exportMetric?}]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_metrics_to_retain_v2: Option<Vec<Value>>,
    /// Accepted for compatibility; Fleetward does not store tags yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
}

/// DescribeSecurityProfile's response; also what `apply` returns, so the caller sees the
/// version it produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityProfileDescription {
    /// The name.
    pub security_profile_name: String,
    /// `arn:aws:iot:<region>:<account>:securityprofile/<name>`.
    pub security_profile_arn: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_profile_description: Option<String>,
    /// The behaviors, as stored.
    pub behaviors: Value,
    /// The alert targets map.
    pub alert_targets: Value,
    /// Metrics retained without a behavior.
    pub additional_metrics_to_retain_v2: Value,
    /// 1 on creation, +1 on each update.
    pub version: i64,
    /// Epoch seconds.
    pub creation_date: f64,
    /// Epoch seconds.
    pub last_modified_date: f64,
}

/// One entry of ListSecurityProfiles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityProfileIdentifier {
    /// The name.
    pub name: String,
    /// The ARN.
    pub arn: String,
}

/// ListSecurityProfiles' response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListSecurityProfilesResponse {
    /// One page of profiles, by name.
    pub security_profile_identifiers: Vec<SecurityProfileIdentifier>,
    /// Present when more pages follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListTargetsForSecurityProfile's item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityProfileTarget {
    /// The target ARN.
    pub arn: String,
}

fn valid_name(name: &str) -> bool {
    fleetward_proto::topic::is_valid_thing_name(name)
}

fn no_control(s: &str) -> bool {
    !s.chars().any(char::is_control)
}

/// Custom metric types and dimensions as validation needs them, read fresh from the store so
/// a profile is checked against what is registered now.
async fn validation_context(
    store: &dyn Store,
) -> ServiceResult<(
    std::collections::HashMap<String, CustomMetricType>,
    std::collections::HashMap<String, Dimension>,
)> {
    let mut custom = std::collections::HashMap::new();
    for m in crate::store::all_pages(|p| async move { store.list_custom_metrics(&p).await }).await?
    {
        if let Some(t) = parse_metric_type(&m.metric_type) {
            custom.insert(m.name, t);
        }
    }
    let mut dims = std::collections::HashMap::new();
    for d in crate::store::all_pages(|p| async move { store.list_dimensions(&p).await }).await? {
        if d.dimension_type == "TOPIC_FILTER" {
            dims.insert(
                d.name.clone(),
                Dimension {
                    name: d.name,
                    dimension_type: DimensionType::TopicFilter,
                    string_values: d.string_values,
                },
            );
        }
    }
    Ok((custom, dims))
}

/// Checks a profile request and turns it into the store's form; every problem is collected.
async fn check_profile(
    store: &dyn Store,
    req: &SecurityProfileRequest,
) -> ServiceResult<NewSecurityProfile> {
    let mut errors = Vec::new();
    if !valid_name(&req.security_profile_name) {
        errors.push(format!(
            "securityProfileName: '{}' must be 1-128 characters of [a-zA-Z0-9:_-]",
            req.security_profile_name
        ));
    }
    if let Some(d) = &req.security_profile_description {
        if d.chars().count() > MAX_DESCRIPTION {
            errors.push(format!(
                "securityProfileDescription: at most {MAX_DESCRIPTION} characters"
            ));
        } else if !no_control(d) {
            errors.push("securityProfileDescription: control characters are not allowed".into());
        }
    }
    let mut behaviors = Vec::with_capacity(req.behaviors.len());
    let mut parse_failed = false;
    for (i, raw) in req.behaviors.iter().enumerate() {
        match serde_json::from_value::<Behavior>(raw.clone()) {
            Ok(b) => behaviors.push(b),
            Err(e) => {
                parse_failed = true;
                errors.push(format!("behaviors[{i}]: {e}"));
            }
        }
    }
    if !parse_failed {
        let (custom, dims) = validation_context(store).await?;
        errors.extend(
            validate_behaviors(&behaviors, &|m| custom.get(m).copied(), &|d| dims.get(d))
                .iter()
                .map(ToString::to_string),
        );
    }
    let alert_targets = req
        .alert_targets
        .clone()
        .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
    check_alert_targets(&alert_targets, &mut errors);
    let mut additional = req
        .additional_metrics_to_retain_v2
        .clone()
        .unwrap_or_default();
    for name in req.additional_metrics_to_retain.iter().flatten() {
        additional.push(serde_json::json!({ "metric": name }));
    }
    for (i, m) in additional.iter().enumerate() {
        if !m.get("metric").is_some_and(Value::is_string) {
            errors.push(format!(
                "additionalMetricsToRetainV2[{i}].metric: required, a metric name"
            ));
        }
        // MetricToRetain.metricDimension is a MetricDimension: a dimension name and IN/NOT_IN.
        if let Some(d) = m.get("metricDimension")
            && serde_json::from_value::<fleetward_core::detect::model::MetricDimension>(d.clone())
                .map_err(|e| {
                    errors.push(format!(
                        "additionalMetricsToRetainV2[{i}].metricDimension: {e}"
                    ))
                })
                .is_ok_and(|md| !valid_name(&md.dimension_name))
        {
            errors.push(format!(
                "additionalMetricsToRetainV2[{i}].metricDimension.dimensionName: 1-128 characters of [a-zA-Z0-9:_-]"
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    Ok(NewSecurityProfile {
        name: req.security_profile_name.clone(),
        description: req.security_profile_description.clone(),
        behaviors: Value::Array(req.behaviors.clone()),
        alert_targets,
        additional_metrics: Value::Array(additional),
    })
}

/// `alertTargets` is a map whose only key is `SNS`, with `alertTargetArn` and `roleArn`.
fn check_alert_targets(v: &Value, errors: &mut Vec<String>) {
    let Some(map) = v.as_object() else {
        errors.push("alertTargets: must be an object".into());
        return;
    };
    for (k, t) in map {
        if k != "SNS" {
            errors.push(format!(
                "alertTargets.{k}: the only alert target type is SNS"
            ));
            continue;
        }
        for field in ["alertTargetArn", "roleArn"] {
            if !t.get(field).is_some_and(Value::is_string) {
                errors.push(format!("alertTargets.SNS.{field}: required, a string"));
            }
        }
        // The model's AlertTarget.roleArn is 20-2048 characters.
        if let Some(role) = t.get("roleArn").and_then(Value::as_str)
            && !(20..=2048).contains(&role.chars().count())
        {
            errors.push("alertTargets.SNS.roleArn: must be 20-2048 characters".into());
        }
    }
}

fn describe(scope: &ArnScope, p: store::SecurityProfile) -> SecurityProfileDescription {
    SecurityProfileDescription {
        security_profile_arn: scope.arn(&format!("securityprofile/{}", p.name)),
        security_profile_name: p.name,
        security_profile_description: p.description,
        behaviors: p.behaviors,
        alert_targets: p.alert_targets,
        additional_metrics_to_retain_v2: p.additional_metrics,
        version: p.version,
        creation_date: fleetward_core::aws::seconds(p.created_at),
        last_modified_date: fleetward_core::aws::seconds(p.modified_at),
    }
}

/// Creates the profile, or replaces the existing one's content with the request (a new
/// version). "Apply" rather than create/update so a profile kept in version control can be
/// re-applied idempotently. The update is conditional on the version read, so a concurrent
/// change is reported as `VersionConflict` instead of being silently overwritten.
pub async fn apply_security_profile(
    ctx: &Ctx,
    req: &SecurityProfileRequest,
) -> ServiceResult<SecurityProfileDescription> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let profile = check_profile(store, req).await?;
    let stored = match store.get_security_profile(&profile.name).await? {
        Some(existing) => {
            store
                .update_security_profile(&profile, Some(existing.version))
                .await?
        }
        None => store.create_security_profile(&profile).await?,
    };
    ctx.targeting_changed(Ok(describe(scope, stored)))
}

/// DescribeSecurityProfile.
pub async fn describe_security_profile(
    ctx: &Ctx,
    name: &str,
) -> ServiceResult<SecurityProfileDescription> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    store
        .get_security_profile(name)
        .await?
        .map(|p| describe(scope, p))
        .ok_or_else(|| ServiceError::NotFound(format!("security profile '{name}' does not exist")))
}

/// ListSecurityProfiles (without the `dimensionName`/`metricName` filters).
async fn list_security_profiles_page(
    ctx: &Ctx,
    paging: &Paging,
) -> ServiceResult<ListSecurityProfilesResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let page = store.list_security_profiles(&paging.request()?).await?;
    Ok(ListSecurityProfilesResponse {
        security_profile_identifiers: page
            .items
            .into_iter()
            .map(|p| SecurityProfileIdentifier {
                arn: scope.arn(&format!("securityprofile/{}", p.name)),
                name: p.name,
            })
            .collect(),
        next_token: page.next_token,
    })
}

/// ListTargetsForSecurityProfile (all of them: a profile has few targets).
async fn targets_of(ctx: &Ctx, name: &str) -> ServiceResult<Vec<SecurityProfileTarget>> {
    let store = ctx.store();
    Ok(store
        .security_profile_targets(name)
        .await?
        .into_iter()
        .map(|arn| SecurityProfileTarget { arn })
        .collect())
}

/// AttachSecurityProfile: the ARN must be one of the four target forms and the target may
/// have at most five profiles. Re-attaching an attached profile is a no-op, not a sixth.
///
/// The count and the attach are two store calls; two concurrent attaches to one full-but-one
/// target could both pass. Admin writes are rare and operator-driven, so this is accepted.
pub async fn attach_security_profile(
    ctx: &Ctx,
    profile: &str,
    target_arn: &str,
) -> ServiceResult<()> {
    let store = ctx.store();
    Target::parse(target_arn)?;
    if store.get_security_profile(profile).await?.is_none() {
        return Err(ServiceError::NotFound(format!(
            "security profile '{profile}' does not exist"
        )));
    }
    let attached = store.target_security_profiles(target_arn).await?;
    if !attached.iter().any(|p| p == profile) {
        check_attach_limit(attached.len())?;
        store.attach_security_profile(profile, target_arn).await?;
    }
    ctx.targeting_changed(Ok(()))
}

/// DetachSecurityProfile; `ResourceNotFound` if the profile does not exist.
pub async fn detach_security_profile(
    ctx: &Ctx,
    profile: &str,
    target_arn: &str,
) -> ServiceResult<()> {
    let store = ctx.store();
    Target::parse(target_arn)?;
    if store.get_security_profile(profile).await?.is_none() {
        return Err(ServiceError::NotFound(format!(
            "security profile '{profile}' does not exist"
        )));
    }
    store.detach_security_profile(profile, target_arn).await?;
    ctx.targeting_changed(Ok(()))
}

// --- custom metrics ------------------------------------------------------------------------

/// CreateCustomMetric's request (the path's `metricName` included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomMetricRequest {
    /// 1–128 of `[a-zA-Z0-9:_-]`, not starting with `aws:` (reserved for AWS's metrics).
    pub metric_name: String,
    /// At most 128 printable characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `string-list`, `ip-address-list`, `number-list` or `number`; fixed once created.
    pub metric_type: String,
}

/// CreateCustomMetric's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateCustomMetricResponse {
    /// The name.
    pub metric_name: String,
    /// `arn:…:custommetric/<name>`.
    pub metric_arn: String,
}

/// DescribeCustomMetric's response; `custom-metrics list` prints these.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomMetricDescription {
    /// The name.
    pub metric_name: String,
    /// The ARN.
    pub metric_arn: String,
    /// The type.
    pub metric_type: String,
    /// The friendly name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Epoch seconds.
    pub creation_date: f64,
    /// Epoch seconds.
    pub last_modified_date: f64,
}

/// ListCustomMetrics' response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListCustomMetricsResponse {
    /// Names, in order.
    pub metric_names: Vec<String>,
    /// Present when more pages follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

fn parse_metric_type(s: &str) -> Option<CustomMetricType> {
    serde_json::from_value(Value::String(s.to_owned())).ok()
}

/// CreateCustomMetric. The type decides which operators and value members behaviors on the
/// metric may use, so it is checked against AWS's four here, once.
async fn insert_custom_metric(
    ctx: &Ctx,
    req: &CreateCustomMetricRequest,
) -> ServiceResult<CreateCustomMetricResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let mut errors = Vec::new();
    if !valid_name(&req.metric_name) {
        errors.push(format!(
            "metricName: '{}' must be 1-128 characters of [a-zA-Z0-9:_-]",
            req.metric_name
        ));
    } else if req.metric_name.starts_with("aws:") {
        errors.push(format!(
            "metricName: '{}' must not start with 'aws:' (reserved for built-in metrics)",
            req.metric_name
        ));
    }
    if let Some(d) = &req.display_name
        && (d.chars().count() > MAX_DISPLAY_NAME || !no_control(d))
    {
        errors.push(format!(
            "displayName: at most {MAX_DISPLAY_NAME} characters, no control characters"
        ));
    }
    if parse_metric_type(&req.metric_type).is_none() {
        errors.push(format!(
            "metricType: '{}' must be one of string-list, ip-address-list, number-list, number",
            req.metric_type
        ));
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let m = store
        .create_custom_metric(&NewCustomMetric {
            name: req.metric_name.clone(),
            display_name: req.display_name.clone(),
            metric_type: req.metric_type.clone(),
        })
        .await?;
    Ok(CreateCustomMetricResponse {
        metric_arn: scope.arn(&format!("custommetric/{}", m.name)),
        metric_name: m.name,
    })
}

/// DescribeCustomMetric.
pub async fn describe_custom_metric(
    ctx: &Ctx,
    name: &str,
) -> ServiceResult<CustomMetricDescription> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let m = store
        .get_custom_metric(name)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("custom metric '{name}' does not exist")))?;
    Ok(custom_metric_description(scope, m))
}

fn custom_metric_description(scope: &ArnScope, m: store::CustomMetric) -> CustomMetricDescription {
    CustomMetricDescription {
        metric_arn: scope.arn(&format!("custommetric/{}", m.name)),
        metric_name: m.name,
        metric_type: m.metric_type,
        display_name: m.display_name,
        creation_date: fleetward_core::aws::seconds(m.created_at),
        last_modified_date: fleetward_core::aws::seconds(m.modified_at),
    }
}

/// ListCustomMetrics.
pub async fn list_custom_metrics(
    ctx: &Ctx,
    paging: &Paging,
) -> ServiceResult<ListCustomMetricsResponse> {
    let store = ctx.store();
    let page = store.list_custom_metrics(&paging.request()?).await?;
    Ok(ListCustomMetricsResponse {
        metric_names: page.items.into_iter().map(|m| m.name).collect(),
        next_token: page.next_token,
    })
}

/// Every custom metric with its type, for operators (the CLI's listing).
pub async fn describe_all_custom_metrics(ctx: &Ctx) -> ServiceResult<Vec<CustomMetricDescription>> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    Ok(
        crate::store::all_pages(|p| async move { store.list_custom_metrics(&p).await })
            .await?
            .into_iter()
            .map(|m| custom_metric_description(scope, m))
            .collect(),
    )
}

// --- dimensions ----------------------------------------------------------------------------

/// CreateDimension's request (the path's `name` included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDimensionRequest {
    /// 1–128 of `[a-zA-Z0-9:_-]`.
    pub name: String,
    /// Only `TOPIC_FILTER` exists.
    #[serde(rename = "type")]
    pub dimension_type: String,
    /// 1–100 MQTT topic filters of 1–256 characters.
    pub string_values: Vec<String>,
}

/// CreateDimension's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDimensionResponse {
    /// The name.
    pub name: String,
    /// `arn:…:dimension/<name>`.
    pub arn: String,
}

/// ListDimensions' response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListDimensionsResponse {
    /// Names, in order.
    pub dimension_names: Vec<String>,
    /// Present when more pages follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// CreateDimension.
async fn insert_dimension(
    ctx: &Ctx,
    req: &CreateDimensionRequest,
) -> ServiceResult<CreateDimensionResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let mut errors = Vec::new();
    if !valid_name(&req.name) {
        errors.push(format!(
            "name: '{}' must be 1-128 characters of [a-zA-Z0-9:_-]",
            req.name
        ));
    }
    if req.dimension_type != "TOPIC_FILTER" {
        errors.push(format!(
            "type: '{}' must be TOPIC_FILTER",
            req.dimension_type
        ));
    }
    if req.string_values.is_empty() || req.string_values.len() > MAX_DIMENSION_VALUES {
        errors.push(format!(
            "stringValues: 1-{MAX_DIMENSION_VALUES} values, got {}",
            req.string_values.len()
        ));
    }
    for (i, v) in req.string_values.iter().enumerate() {
        if v.is_empty() || v.chars().count() > MAX_DIMENSION_VALUE_LEN {
            errors.push(format!(
                "stringValues[{i}]: 1-{MAX_DIMENSION_VALUE_LEN} characters"
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let d = store
        .create_dimension(&NewDimension {
            name: req.name.clone(),
            dimension_type: req.dimension_type.clone(),
            string_values: req.string_values.clone(),
        })
        .await?;
    Ok(CreateDimensionResponse {
        arn: scope.arn(&format!("dimension/{}", d.name)),
        name: d.name,
    })
}

/// ListDimensions.
pub async fn list_dimensions(ctx: &Ctx, paging: &Paging) -> ServiceResult<ListDimensionsResponse> {
    let store = ctx.store();
    let page = store.list_dimensions(&paging.request()?).await?;
    Ok(ListDimensionsResponse {
        dimension_names: page.items.into_iter().map(|d| d.name).collect(),
        next_token: page.next_token,
    })
}

// --- violations ----------------------------------------------------------------------------

/// ListActiveViolations' item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveViolation {
    /// 32 lowercase hex.
    pub violation_id: String,
    /// The thing.
    pub thing_name: String,
    /// The profile.
    pub security_profile_name: String,
    /// The behavior as evaluated.
    pub behavior: Value,
    /// The value that last breached it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_violation_value: Option<Value>,
    /// The operator's verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_state: Option<String>,
    /// The operator's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_state_description: Option<String>,
    /// Epoch seconds.
    pub last_violation_time: f64,
    /// Epoch seconds.
    pub violation_start_time: f64,
}

/// ListActiveViolations' response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListActiveViolationsResponse {
    /// One page of active violations.
    pub active_violations: Vec<ActiveViolation>,
    /// Present when more pages follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListActiveViolations, optionally of one thing and/or one profile.
async fn active_violations_page(
    ctx: &Ctx,
    thing: Option<&str>,
    profile: Option<&str>,
    paging: &Paging,
) -> ServiceResult<ListActiveViolationsResponse> {
    let store = ctx.store();
    let page = store
        .list_active_violations(thing, profile, &paging.request()?)
        .await?;
    Ok(ListActiveViolationsResponse {
        active_violations: page
            .items
            .into_iter()
            .map(|v| ActiveViolation {
                violation_id: v.violation_id,
                thing_name: v.thing,
                security_profile_name: v.profile,
                behavior: v.behavior_definition,
                last_violation_value: v.last_value,
                verification_state: v.verification_state.map(|s| s.as_str().to_owned()),
                verification_state_description: v.verification_description,
                last_violation_time: fleetward_core::aws::seconds(v.last_at),
                violation_start_time: fleetward_core::aws::seconds(v.started_at),
            })
            .collect(),
        next_token: page.next_token,
    })
}

/// ListViolationEvents' item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ViolationEventItem {
    /// The violation.
    pub violation_id: String,
    /// The thing.
    pub thing_name: String,
    /// The profile.
    pub security_profile_name: String,
    /// The behavior as evaluated, if known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub behavior: Option<Value>,
    /// The value involved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_value: Option<Value>,
    /// `in-alarm`, `alarm-cleared` or `alarm-invalidated`.
    pub violation_event_type: String,
    /// The operator's verdict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_state: Option<String>,
    /// The operator's note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification_state_description: Option<String>,
    /// Epoch seconds.
    pub violation_event_time: f64,
}

/// ListViolationEvents' response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListViolationEventsResponse {
    /// One page of events, oldest first.
    pub violation_events: Vec<ViolationEventItem>,
    /// Present when more pages follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListViolationEvents in `[from_ms, to_ms)` (AWS requires both ends).
async fn violation_events_page(
    ctx: &Ctx,
    filter: &ViolationEventFilter,
    paging: &Paging,
) -> ServiceResult<ListViolationEventsResponse> {
    let store = ctx.store();
    if filter.to_ms < filter.from_ms {
        return Err(ServiceError::invalid(
            "endTime: must not be before startTime",
        ));
    }
    let page = store
        .list_violation_events(filter, &paging.request()?)
        .await?;
    Ok(ListViolationEventsResponse {
        violation_events: page
            .items
            .into_iter()
            .map(|e| ViolationEventItem {
                violation_id: e.violation_id,
                thing_name: e.thing,
                security_profile_name: e.profile,
                behavior: e.behavior_definition,
                metric_value: e.value,
                violation_event_type: e.event_type.as_str().to_owned(),
                verification_state: e.verification_state.map(|s| s.as_str().to_owned()),
                verification_state_description: e.verification_description,
                violation_event_time: fleetward_core::aws::seconds(e.event_time),
            })
            .collect(),
        next_token: page.next_token,
    })
}

// --- the rest of the Detect API ------------------------------------------------------------
//
// What the HTTP API needs beyond the CLI's commands: strict create and partial update of
// profiles, deletes, filtered listings, verification states, metric values and ML training
// summaries.

/// Most custom metrics an account may have (AWS's quota, adjustable there, fixed here).
pub const MAX_CUSTOM_METRICS: usize = 100;
/// Most dimensions an account may have (AWS's quota).
pub const MAX_DIMENSIONS: usize = 10;

/// One page of an in-memory listing in the order of `key` (tagged `list` in its tokens), at
/// most `maxResults` items (1–`max`; default 100, or `max` if smaller). Used where the store has
/// no paged query (targets, filtered profiles, training summaries).
fn page_vec<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    list: &str,
    paging: &Paging,
    max: u32,
) -> ServiceResult<(Vec<T>, Option<String>)> {
    let page = memory_page(items, key, list, &paging.request_at_most(max)?)?;
    Ok((page.items, page.next_token))
}

/// CreateSecurityProfile's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateSecurityProfileResponse {
    /// The name.
    pub security_profile_name: String,
    /// The ARN.
    pub security_profile_arn: String,
}

/// CreateSecurityProfile: like [`apply_security_profile`] but `AlreadyExists` when the name
/// is taken, as AWS answers.
pub async fn create_security_profile(
    ctx: &Ctx,
    req: &SecurityProfileRequest,
) -> ServiceResult<CreateSecurityProfileResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let profile = check_profile(store, req).await?;
    let p = store.create_security_profile(&profile).await?;
    Ok(CreateSecurityProfileResponse {
        security_profile_arn: scope.arn(&format!("securityprofile/{}", p.name)),
        security_profile_name: p.name,
    })
}

/// UpdateSecurityProfile's body: every member optional; a member given replaces the stored
/// one, a `delete*` flag clears it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateSecurityProfileRequest {
    /// New description.
    #[serde(default)]
    pub security_profile_description: Option<String>,
    /// New behaviors.
    #[serde(default)]
    pub behaviors: Option<Vec<Value>>,
    /// New alert targets.
    #[serde(default)]
    pub alert_targets: Option<Value>,
    /// New metrics to retain (deprecated form).
    #[serde(default)]
    pub additional_metrics_to_retain: Option<Vec<String>>,
    /// New metrics to retain.
    #[serde(default)]
    pub additional_metrics_to_retain_v2: Option<Vec<Value>>,
    /// Remove every behavior.
    #[serde(default)]
    pub delete_behaviors: Option<bool>,
    /// Remove the alert targets.
    #[serde(default)]
    pub delete_alert_targets: Option<bool>,
    /// Remove the metrics to retain.
    #[serde(default)]
    pub delete_additional_metrics_to_retain: Option<bool>,
    /// Accepted for compatibility: Fleetward has no metrics export, so there is none to delete.
    #[serde(default)]
    pub delete_metrics_export_config: Option<bool>,
}

/// UpdateSecurityProfile: merges the request into the stored profile, validates the result
/// as a whole and stores it as a new version, conditional on `expected_version` when given.
pub async fn update_security_profile(
    ctx: &Ctx,
    name: &str,
    req: &UpdateSecurityProfileRequest,
    expected_version: Option<i64>,
) -> ServiceResult<SecurityProfileDescription> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let mut errors = Vec::new();
    let flag = |f: Option<bool>| f.unwrap_or(false);
    if flag(req.delete_behaviors) && req.behaviors.is_some() {
        errors.push("behaviors: cannot be given together with deleteBehaviors".to_owned());
    }
    if flag(req.delete_alert_targets) && req.alert_targets.is_some() {
        errors.push("alertTargets: cannot be given together with deleteAlertTargets".to_owned());
    }
    if flag(req.delete_additional_metrics_to_retain)
        && (req.additional_metrics_to_retain.is_some()
            || req.additional_metrics_to_retain_v2.is_some())
    {
        errors.push(
            "additionalMetricsToRetainV2: cannot be given together with deleteAdditionalMetricsToRetain"
                .to_owned(),
        );
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let existing = store.get_security_profile(name).await?.ok_or_else(|| {
        ServiceError::NotFound(format!("security profile '{name}' does not exist"))
    })?;
    if let Some(v) = expected_version
        && v != existing.version
    {
        return Err(ServiceError::VersionConflict(format!(
            "expectedVersion {v} is not the current version {} of security profile '{name}'",
            existing.version
        )));
    }
    let array = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let merged = SecurityProfileRequest {
        security_profile_name: name.to_owned(),
        security_profile_description: req
            .security_profile_description
            .clone()
            .or(existing.description),
        behaviors: if flag(req.delete_behaviors) {
            Vec::new()
        } else {
            req.behaviors
                .clone()
                .unwrap_or_else(|| array(&existing.behaviors))
        },
        alert_targets: if flag(req.delete_alert_targets) {
            None
        } else {
            req.alert_targets.clone().or(Some(existing.alert_targets))
        },
        additional_metrics_to_retain: req.additional_metrics_to_retain.clone(),
        additional_metrics_to_retain_v2: if flag(req.delete_additional_metrics_to_retain) {
            None
        } else if req.additional_metrics_to_retain.is_some()
            || req.additional_metrics_to_retain_v2.is_some()
        {
            req.additional_metrics_to_retain_v2.clone()
        } else {
            Some(array(&existing.additional_metrics))
        },
        tags: None,
    };
    let profile = check_profile(store, &merged).await?;
    let stored = store
        .update_security_profile(&profile, Some(existing.version))
        .await?;
    ctx.targeting_changed(Ok(describe(scope, stored)))
}

/// DeleteSecurityProfile. Deleting a profile that does not exist succeeds (the model lists no
/// ResourceNotFound for it); a stale `expected_version` is a `VersionConflict`.
pub async fn delete_security_profile(
    ctx: &Ctx,
    name: &str,
    expected_version: Option<i64>,
) -> ServiceResult<()> {
    let store = ctx.store();
    ctx.targeting_changed(
        match store.delete_security_profile(name, expected_version).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        },
    )
}

/// Every stored profile, parsed behaviors alongside (unparseable ones skipped: they were
/// validated when stored).
async fn all_profiles(
    store: &dyn Store,
) -> ServiceResult<Vec<(store::SecurityProfile, Vec<Behavior>)>> {
    Ok(
        crate::store::all_pages(|p| async move { store.list_security_profiles(&p).await })
            .await?
            .into_iter()
            .map(|p| {
                let behaviors = serde_json::from_value::<Vec<Behavior>>(p.behaviors.clone())
                    .unwrap_or_default();
                (p, behaviors)
            })
            .collect(),
    )
}

/// Whether a profile uses `metric` (in a behavior or as a metric to retain).
fn profile_uses_metric(p: &store::SecurityProfile, behaviors: &[Behavior], metric: &str) -> bool {
    behaviors
        .iter()
        .any(|b| b.metric.as_deref() == Some(metric))
        || p.additional_metrics.as_array().is_some_and(|a| {
            a.iter()
                .any(|m| m.get("metric").and_then(Value::as_str) == Some(metric))
        })
}

/// Whether a profile uses `dimension`.
fn profile_uses_dimension(
    p: &store::SecurityProfile,
    behaviors: &[Behavior],
    dimension: &str,
) -> bool {
    behaviors.iter().any(|b| {
        b.metric_dimension
            .as_ref()
            .is_some_and(|d| d.dimension_name == dimension)
    }) || p.additional_metrics.as_array().is_some_and(|a| {
        a.iter().any(|m| {
            m.pointer("/metricDimension/dimensionName")
                .and_then(Value::as_str)
                == Some(dimension)
        })
    })
}

/// ListSecurityProfiles with its `dimensionName` / `metricName` filters (at most one): only
/// the profiles using that dimension or metric. A filter naming a dimension or custom metric
/// that does not exist is `ResourceNotFound`.
pub async fn list_security_profiles(
    ctx: &Ctx,
    dimension: Option<&str>,
    metric: Option<&str>,
    paging: &Paging,
) -> ServiceResult<ListSecurityProfilesResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    if dimension.is_none() && metric.is_none() {
        return list_security_profiles_page(ctx, paging).await;
    }
    if dimension.is_some() && metric.is_some() {
        return Err(ServiceError::invalid(
            "dimensionName, metricName: give at most one of them",
        ));
    }
    if let Some(d) = dimension
        && store.get_dimension(d).await?.is_none()
    {
        return Err(ServiceError::NotFound(format!(
            "dimension '{d}' does not exist"
        )));
    }
    if let Some(m) = metric
        && !m.starts_with("aws:")
        && store.get_custom_metric(m).await?.is_none()
    {
        return Err(ServiceError::NotFound(format!(
            "custom metric '{m}' does not exist"
        )));
    }
    let matching: Vec<String> = all_profiles(store)
        .await?
        .into_iter()
        .filter(|(p, b)| match (dimension, metric) {
            (Some(d), _) => profile_uses_dimension(p, b, d),
            (_, Some(m)) => profile_uses_metric(p, b, m),
            _ => true,
        })
        .map(|(p, _)| p.name)
        .collect();
    let (names, next_token) = page_vec(
        matching,
        Clone::clone,
        "security-profiles-filtered",
        paging,
        PageRequest::MAX_LIMIT,
    )?;
    Ok(ListSecurityProfilesResponse {
        security_profile_identifiers: names
            .into_iter()
            .map(|name| SecurityProfileIdentifier {
                arn: scope.arn(&format!("securityprofile/{name}")),
                name,
            })
            .collect(),
        next_token,
    })
}

/// ListTargetsForSecurityProfile's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTargetsForSecurityProfileResponse {
    /// One page of targets.
    pub security_profile_targets: Vec<SecurityProfileTarget>,
    /// Present when more pages follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListTargetsForSecurityProfile, paged; `ResourceNotFound` if the profile does not exist.
pub async fn list_targets_for_security_profile(
    ctx: &Ctx,
    name: &str,
    paging: &Paging,
) -> ServiceResult<ListTargetsForSecurityProfileResponse> {
    let all = targets_of(ctx, name).await?;
    let (items, next_token) = page_vec(
        all,
        |t| t.arn.clone(),
        "profile-targets",
        paging,
        PageRequest::MAX_LIMIT,
    )?;
    Ok(ListTargetsForSecurityProfileResponse {
        security_profile_targets: items,
        next_token,
    })
}

/// One (profile, target) pair of ListSecurityProfilesForTarget.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityProfileTargetMapping {
    /// The profile.
    pub security_profile_identifier: SecurityProfileIdentifier,
    /// The target it is attached to.
    pub target: SecurityProfileTarget,
}

/// ListSecurityProfilesForTarget's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListSecurityProfilesForTargetResponse {
    /// One page of mappings.
    pub security_profile_target_mappings: Vec<SecurityProfileTargetMapping>,
    /// Present when more pages follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// ListSecurityProfilesForTarget. With `recursive` and a thing-group target, the profiles
/// attached to its descendant groups are listed too (AWS: "return child groups too").
pub async fn list_security_profiles_for_target(
    ctx: &Ctx,
    target_arn: &str,
    recursive: bool,
    paging: &Paging,
) -> ServiceResult<ListSecurityProfilesForTargetResponse> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let target = Target::parse(target_arn)?;
    let mut targets = vec![target_arn.to_owned()];
    if let Target::ThingGroup(group) = &target {
        if store.get_group(group).await?.is_none() {
            return Err(ServiceError::NotFound(format!(
                "thing group '{group}' does not exist"
            )));
        }
        if recursive {
            let prefix = target_arn
                .strip_suffix(group.as_str())
                .unwrap_or_default()
                .to_owned();
            let mut frontier = vec![group.clone()];
            while let Some(g) = frontier.pop() {
                let children = crate::store::all_pages(|p| {
                    let g = g.clone();
                    async move { store.list_groups(Some(&g), &p).await }
                })
                .await?;
                for c in children {
                    targets.push(format!("{prefix}{}", c.name));
                    frontier.push(c.name);
                }
            }
        }
    }
    let mut mappings = Vec::new();
    for t in targets {
        for name in store.target_security_profiles(&t).await? {
            mappings.push(SecurityProfileTargetMapping {
                security_profile_identifier: SecurityProfileIdentifier {
                    arn: scope.arn(&format!("securityprofile/{name}")),
                    name,
                },
                target: SecurityProfileTarget { arn: t.clone() },
            });
        }
    }
    let (items, next_token) = page_vec(
        mappings,
        |m| format!("{}\n{}", m.target.arn, m.security_profile_identifier.name),
        "target-profiles",
        paging,
        PageRequest::MAX_LIMIT,
    )?;
    Ok(ListSecurityProfilesForTargetResponse {
        security_profile_target_mappings: items,
        next_token,
    })
}

/// ValidateSecurityProfileBehaviors' item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BehaviorValidationError {
    /// What is wrong, with the behavior's index.
    pub error_message: String,
}

/// ValidateSecurityProfileBehaviors' response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateBehaviorsResponse {
    /// Whether there was nothing to report.
    pub valid: bool,
    /// Every problem found.
    pub validation_errors: Vec<BehaviorValidationError>,
}

/// ValidateSecurityProfileBehaviors: checks behaviors against the registered custom metrics
/// and dimensions, and answers with every problem rather than failing.
pub async fn validate_security_profile_behaviors(
    ctx: &Ctx,
    behaviors: &[Value],
) -> ServiceResult<ValidateBehaviorsResponse> {
    let store = ctx.store();
    let mut messages = Vec::new();
    let mut parsed = Vec::with_capacity(behaviors.len());
    for (i, raw) in behaviors.iter().enumerate() {
        match serde_json::from_value::<Behavior>(raw.clone()) {
            Ok(b) => parsed.push(b),
            Err(e) => messages.push(format!("behaviors[{i}]: {e}")),
        }
    }
    if messages.is_empty() {
        let (custom, dims) = validation_context(store).await?;
        messages.extend(
            validate_behaviors(&parsed, &|m| custom.get(m).copied(), &|d| dims.get(d))
                .iter()
                .map(ToString::to_string),
        );
    }
    Ok(ValidateBehaviorsResponse {
        valid: messages.is_empty(),
        validation_errors: messages
            .into_iter()
            .map(|error_message| BehaviorValidationError { error_message })
            .collect(),
    })
}

/// The extra filters of ListActiveViolations and ListViolationEvents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViolationFilters {
    /// `STATIC`, `STATISTICAL` or `MACHINE_LEARNING`.
    pub behavior_criteria_type: Option<String>,
    /// `false` leaves out violations of behaviors whose alerts are suppressed; absent or `true`
    /// lists them too.
    pub list_suppressed_alerts: Option<bool>,
    /// Only violations with this verification state.
    pub verification_state: Option<String>,
}

/// The criteria type of a behavior definition, as ListActiveViolations' filter names it.
pub fn behavior_criteria_type(behavior: &Value) -> &'static str {
    let criteria = behavior.get("criteria");
    if criteria.and_then(|c| c.get("mlDetectionConfig")).is_some() {
        "MACHINE_LEARNING"
    } else if criteria
        .and_then(|c| c.get("statisticalThreshold"))
        .is_some()
    {
        "STATISTICAL"
    } else {
        "STATIC"
    }
}

impl ViolationFilters {
    fn keeps(&self, behavior: Option<&Value>, verification: Option<&str>) -> bool {
        let null = Value::Null;
        let behavior = behavior.unwrap_or(&null);
        if let Some(t) = &self.behavior_criteria_type
            && behavior_criteria_type(behavior) != t
        {
            return false;
        }
        if self.list_suppressed_alerts == Some(false)
            && behavior.get("suppressAlerts").and_then(Value::as_bool) == Some(true)
        {
            return false;
        }
        if let Some(v) = &self.verification_state
            && verification.unwrap_or("UNKNOWN") != v
        {
            return false;
        }
        true
    }
}

/// ListActiveViolations with every filter. The extra filters apply to each stored page, so a
/// page may hold fewer than `maxResults` items while a `nextToken` still follows.
pub async fn list_active_violations(
    ctx: &Ctx,
    thing: Option<&str>,
    profile: Option<&str>,
    filters: &ViolationFilters,
    paging: &Paging,
) -> ServiceResult<ListActiveViolationsResponse> {
    let mut r = active_violations_page(ctx, thing, profile, paging).await?;
    r.active_violations
        .retain(|v| filters.keeps(Some(&v.behavior), v.verification_state.as_deref()));
    Ok(r)
}

/// ListViolationEvents with every filter (paged as [`list_active_violations`]).
pub async fn list_violation_events(
    ctx: &Ctx,
    filter: &ViolationEventFilter,
    filters: &ViolationFilters,
    paging: &Paging,
) -> ServiceResult<ListViolationEventsResponse> {
    let mut r = violation_events_page(ctx, filter, paging).await?;
    r.violation_events
        .retain(|e| filters.keeps(e.behavior.as_ref(), e.verification_state.as_deref()));
    Ok(r)
}

/// PutVerificationStateOnViolation. The model lists no ResourceNotFound for it, so an unknown
/// violation id is an `InvalidRequest`.
pub async fn put_verification_state(
    ctx: &Ctx,
    violation_id: &str,
    state: &str,
    description: Option<&str>,
) -> ServiceResult<()> {
    let store = ctx.store();
    let mut errors = Vec::new();
    let parsed = store::VerificationState::parse(state);
    if parsed.is_none() {
        errors.push(format!(
            "verificationState: '{state}' must be one of FALSE_POSITIVE, BENIGN_POSITIVE, TRUE_POSITIVE, UNKNOWN"
        ));
    }
    if let Some(d) = description
        && (d.chars().count() > MAX_DESCRIPTION || !no_control(d))
    {
        errors.push(format!(
            "verificationStateDescription: at most {MAX_DESCRIPTION} characters, no control characters"
        ));
    }
    let Some(state) = parsed.filter(|_| errors.is_empty()) else {
        return Err(ServiceError::Invalid(errors));
    };
    match store
        .set_violation_verification_state(violation_id, state, description)
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound { .. }) => Err(ServiceError::invalid(format!(
            "violationId: no violation has id '{violation_id}'"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// ListMetricValues' item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricDatumItem {
    /// Epoch seconds.
    pub timestamp: f64,
    /// AWS's `MetricValue`.
    pub value: fleetward_proto::decode::MetricValue,
}

/// ListMetricValues' response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMetricValuesResponse {
    /// One page of values, oldest first.
    pub metric_datum_list: Vec<MetricDatumItem>,
    /// Present when more pages follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// What ListMetricValues asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricValuesQuery<'a> {
    /// The thing.
    pub thing: &'a str,
    /// `aws:…` or a custom metric name.
    pub metric: &'a str,
    /// A TOPIC_FILTER dimension selecting cloud-side values by topic.
    pub dimension: Option<&'a str>,
    /// `IN` (default) or `NOT_IN`.
    pub operator: Option<&'a str>,
    /// Start (epoch ms, inclusive).
    pub from_ms: i64,
    /// End (epoch ms, exclusive).
    pub to_ms: i64,
}

/// ListMetricValues. An unknown metric name is `InvalidRequest`, an unregistered custom
/// metric or dimension `ResourceNotFound`. With a dimension, only values whose topic passes
/// it are returned (filtered per stored page, as the violation listings are).
pub async fn list_metric_values(
    ctx: &Ctx,
    q: &MetricValuesQuery<'_>,
    paging: &Paging,
) -> ServiceResult<ListMetricValuesResponse> {
    let store = ctx.store();
    use fleetward_core::detect::model::DimensionOperator;
    use fleetward_proto::decode::{AwsMetric, Metric};
    if q.to_ms < q.from_ms {
        return Err(ServiceError::invalid(
            "endTime: must not be before startTime",
        ));
    }
    let metric = if q.metric.starts_with("aws:") {
        Metric::Aws(AwsMetric::from_name(q.metric).ok_or_else(|| {
            ServiceError::invalid(format!("metricName: '{}' is not an AWS metric", q.metric))
        })?)
    } else {
        if store.get_custom_metric(q.metric).await?.is_none() {
            return Err(ServiceError::NotFound(format!(
                "custom metric '{}' does not exist",
                q.metric
            )));
        }
        Metric::Custom(q.metric.to_owned())
    };
    let dimension =
        match q.dimension {
            Some(d) => Some(store.get_dimension(d).await?.ok_or_else(|| {
                ServiceError::NotFound(format!("dimension '{d}' does not exist"))
            })?),
            None => None,
        };
    let operator = match q.operator {
        None | Some("IN") => DimensionOperator::In,
        Some("NOT_IN") => DimensionOperator::NotIn,
        Some(o) => {
            return Err(ServiceError::invalid(format!(
                "dimensionValueOperator: '{o}' must be IN or NOT_IN"
            )));
        }
    };
    let page = store
        .metric_values(q.thing, &metric, q.from_ms, q.to_ms, &paging.request()?)
        .await?;
    Ok(ListMetricValuesResponse {
        metric_datum_list: page
            .items
            .into_iter()
            .filter(|d| match &dimension {
                None => true,
                Some(dim) => d.topic.as_deref().is_some_and(|t| {
                    fleetward_core::detect::topic::dimension_matches(
                        &dim.string_values,
                        operator,
                        t,
                        q.thing,
                    )
                }),
            })
            .map(|d| MetricDatumItem {
                timestamp: fleetward_core::aws::seconds(d.timestamp),
                value: d.value,
            })
            .collect(),
        next_token: page.next_token,
    })
}

/// Creates a custom metric within the account quota ([`MAX_CUSTOM_METRICS`]).
pub async fn create_custom_metric(
    ctx: &Ctx,
    req: &CreateCustomMetricRequest,
) -> ServiceResult<CreateCustomMetricResponse> {
    let store = ctx.store();
    let existing =
        crate::store::all_pages(|p| async move { store.list_custom_metrics(&p).await }).await?;
    if existing.len() >= MAX_CUSTOM_METRICS && !existing.iter().any(|m| m.name == req.metric_name) {
        return Err(ServiceError::LimitExceeded(format!(
            "at most {MAX_CUSTOM_METRICS} custom metrics"
        )));
    }
    ctx.custom_metrics_changed(insert_custom_metric(ctx, req).await)
}

/// UpdateCustomMetric: sets the display name.
pub async fn update_custom_metric(
    ctx: &Ctx,
    name: &str,
    display_name: &str,
) -> ServiceResult<CustomMetricDescription> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    if display_name.chars().count() > MAX_DISPLAY_NAME || !no_control(display_name) {
        return Err(ServiceError::invalid(format!(
            "displayName: at most {MAX_DISPLAY_NAME} characters, no control characters"
        )));
    }
    let m = store.update_custom_metric(name, Some(display_name)).await?;
    Ok(custom_metric_description(scope, m))
}

/// `InvalidRequest` naming the profiles for which `uses` holds: a custom metric or dimension
/// a profile refers to cannot be deleted (AWS: remove it from every profile first).
async fn refuse_if_used(
    store: &dyn Store,
    kind: &str,
    name: &str,
    uses: fn(&store::SecurityProfile, &[Behavior], &str) -> bool,
) -> ServiceResult<()> {
    let users: Vec<String> = all_profiles(store)
        .await?
        .into_iter()
        .filter(|(p, b)| uses(p, b, name))
        .map(|(p, _)| p.name)
        .collect();
    if users.is_empty() {
        return Ok(());
    }
    Err(ServiceError::invalid(format!(
        "{kind} '{name}' is used by security profile(s) {}; remove it from them first",
        users.join(", ")
    )))
}

/// DeleteCustomMetric. A metric a security profile still uses cannot go (AWS: remove it from
/// every profile first); deleting one that does not exist succeeds (no ResourceNotFound in
/// the model).
pub async fn delete_custom_metric(ctx: &Ctx, name: &str) -> ServiceResult<()> {
    let store = ctx.store();
    refuse_if_used(store, "custom metric", name, profile_uses_metric).await?;
    ctx.custom_metrics_changed(match store.delete_custom_metric(name).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    })
}

/// DescribeDimension's and UpdateDimension's response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DimensionDescription {
    /// The name.
    pub name: String,
    /// The ARN.
    pub arn: String,
    /// `TOPIC_FILTER`.
    #[serde(rename = "type")]
    pub dimension_type: String,
    /// The topic filters.
    pub string_values: Vec<String>,
    /// Epoch seconds.
    pub creation_date: f64,
    /// Epoch seconds.
    pub last_modified_date: f64,
}

fn dimension_description(scope: &ArnScope, d: store::Dimension) -> DimensionDescription {
    DimensionDescription {
        arn: scope.arn(&format!("dimension/{}", d.name)),
        name: d.name,
        dimension_type: d.dimension_type,
        string_values: d.string_values,
        creation_date: fleetward_core::aws::seconds(d.created_at),
        last_modified_date: fleetward_core::aws::seconds(d.modified_at),
    }
}

/// Creates a dimension within the account quota ([`MAX_DIMENSIONS`]).
pub async fn create_dimension(
    ctx: &Ctx,
    req: &CreateDimensionRequest,
) -> ServiceResult<CreateDimensionResponse> {
    let store = ctx.store();
    let existing =
        crate::store::all_pages(|p| async move { store.list_dimensions(&p).await }).await?;
    if existing.len() >= MAX_DIMENSIONS && !existing.iter().any(|d| d.name == req.name) {
        return Err(ServiceError::LimitExceeded(format!(
            "at most {MAX_DIMENSIONS} dimensions"
        )));
    }
    insert_dimension(ctx, req).await
}

/// DescribeDimension.
pub async fn describe_dimension(ctx: &Ctx, name: &str) -> ServiceResult<DimensionDescription> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let d = store
        .get_dimension(name)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("dimension '{name}' does not exist")))?;
    Ok(dimension_description(scope, d))
}

/// UpdateDimension: replaces the topic filters.
pub async fn update_dimension(
    ctx: &Ctx,
    name: &str,
    string_values: &[String],
) -> ServiceResult<DimensionDescription> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let mut errors = Vec::new();
    if string_values.is_empty() || string_values.len() > MAX_DIMENSION_VALUES {
        errors.push(format!(
            "stringValues: 1-{MAX_DIMENSION_VALUES} values, got {}",
            string_values.len()
        ));
    }
    for (i, v) in string_values.iter().enumerate() {
        if v.is_empty() || v.chars().count() > MAX_DIMENSION_VALUE_LEN {
            errors.push(format!(
                "stringValues[{i}]: 1-{MAX_DIMENSION_VALUE_LEN} characters"
            ));
        }
    }
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    let d = store.update_dimension(name, string_values).await?;
    ctx.targeting_changed(Ok(dimension_description(scope, d)))
}

/// DeleteDimension. A dimension a security profile still uses cannot go; deleting one that
/// does not exist succeeds (no ResourceNotFound in the model).
pub async fn delete_dimension(ctx: &Ctx, name: &str) -> ServiceResult<()> {
    let store = ctx.store();
    refuse_if_used(store, "dimension", name, profile_uses_dimension).await?;
    match store.delete_dimension(name).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// GetBehaviorModelTrainingSummaries' item.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BehaviorModelTrainingSummary {
    /// The profile.
    pub security_profile_name: String,
    /// The ML behavior.
    pub behavior_name: String,
    /// When the profile (and so the behavior) was last changed, epoch seconds.
    pub training_data_collection_start_date: f64,
    /// Always `PENDING_BUILD`: Fleetward does not train models (ML Detect is not implemented).
    pub model_status: String,
    /// Always 0.
    pub datapoints_collection_percentage: f64,
}

/// GetBehaviorModelTrainingSummaries' response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrainingSummariesResponse {
    /// One page of summaries.
    pub summaries: Vec<BehaviorModelTrainingSummary>,
    /// Present when more pages follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// GetBehaviorModelTrainingSummaries: one summary per ML behavior (`mlDetectionConfig`), of
/// one profile or all; `maxResults` 1–10. Models are never built, so every one reports
/// `PENDING_BUILD`, which is what AWS reports before it has enough data.
pub async fn behavior_model_training_summaries(
    ctx: &Ctx,
    profile: Option<&str>,
    paging: &Paging,
) -> ServiceResult<TrainingSummariesResponse> {
    let store = ctx.store();
    let profiles = match profile {
        Some(name) => {
            let p = store.get_security_profile(name).await?.ok_or_else(|| {
                ServiceError::NotFound(format!("security profile '{name}' does not exist"))
            })?;
            let b =
                serde_json::from_value::<Vec<Behavior>>(p.behaviors.clone()).unwrap_or_default();
            vec![(p, b)]
        }
        None => all_profiles(store).await?,
    };
    let mut summaries = Vec::new();
    for (p, behaviors) in profiles {
        for b in behaviors {
            if b.criteria
                .as_ref()
                .is_some_and(|c| c.ml_detection_config.is_some())
            {
                summaries.push(BehaviorModelTrainingSummary {
                    security_profile_name: p.name.clone(),
                    behavior_name: b.name,
                    training_data_collection_start_date: fleetward_core::aws::seconds(
                        p.modified_at,
                    ),
                    model_status: "PENDING_BUILD".to_owned(),
                    datapoints_collection_percentage: 0.0,
                });
            }
        }
    }
    let (summaries, next_token) = page_vec(
        summaries,
        |s| format!("{}\n{}", s.security_profile_name, s.behavior_name),
        "training-summaries",
        paging,
        10,
    )?;
    Ok(TrainingSummariesResponse {
        summaries,
        next_token,
    })
}

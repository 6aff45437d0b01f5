//! The detect service (`fleetward_service::detect`): quotas and side effects, whatever door
//! the call comes through.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use fleetward_core::aws::Paging;
use fleetward_service::detect::{
    self, CreateCustomMetricRequest, CreateDimensionRequest, MAX_CUSTOM_METRICS, MAX_DIMENSIONS,
    SecurityProfileRequest,
};
use fleetward_service::{CountChanges, ServiceError};

use crate::registry::env;

fn metric(i: usize) -> CreateCustomMetricRequest {
    CreateCustomMetricRequest {
        metric_name: format!("m-{i:03}"),
        display_name: None,
        metric_type: "number".into(),
    }
}

fn dimension(i: usize) -> CreateDimensionRequest {
    CreateDimensionRequest {
        name: format!("d-{i:02}"),
        dimension_type: "TOPIC_FILTER".into(),
        string_values: vec![format!("t/{i}/#")],
    }
}

#[tokio::test]
async fn the_101st_custom_metric_is_refused_and_the_100th_pokes_ingest() {
    let e = env().await;
    let changes = Arc::new(CountChanges::default());
    let ctx = e.ctx.clone().with_changes(changes.clone());
    for i in 0..MAX_CUSTOM_METRICS {
        detect::create_custom_metric(&ctx, &metric(i))
            .await
            .unwrap();
    }
    assert_eq!(
        changes.custom_metrics.load(Ordering::SeqCst),
        MAX_CUSTOM_METRICS
    );
    let err = detect::create_custom_metric(&ctx, &metric(MAX_CUSTOM_METRICS))
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::LimitExceeded(_)), "{err:?}");
    assert_eq!(err.name(), "LimitExceededException");
    assert_eq!(err.to_string(), "at most 100 custom metrics");
    // A refused create pokes nothing; re-creating an existing one is not a 101st.
    assert_eq!(
        changes.custom_metrics.load(Ordering::SeqCst),
        MAX_CUSTOM_METRICS
    );
    let again = detect::create_custom_metric(&ctx, &metric(0))
        .await
        .unwrap_err();
    assert!(matches!(again, ServiceError::AlreadyExists(_)), "{again:?}");
    let listed = detect::list_custom_metrics(
        &ctx,
        &Paging {
            next_token: None,
            max_results: Some(250),
        },
    )
    .await
    .unwrap();
    assert_eq!(listed.metric_names.len(), MAX_CUSTOM_METRICS);
}

#[tokio::test]
async fn the_11th_dimension_is_refused() {
    let e = env().await;
    for i in 0..MAX_DIMENSIONS {
        detect::create_dimension(&e.ctx, &dimension(i))
            .await
            .unwrap();
    }
    let err = detect::create_dimension(&e.ctx, &dimension(MAX_DIMENSIONS))
        .await
        .unwrap_err();
    assert!(matches!(err, ServiceError::LimitExceeded(_)), "{err:?}");
    assert_eq!(err.to_string(), "at most 10 dimensions");
}

#[tokio::test]
async fn profile_edits_poke_retargeting_once_each() {
    let e = env().await;
    let changes = Arc::new(CountChanges::default());
    let ctx = e.ctx.clone().with_changes(changes.clone());
    let req: SecurityProfileRequest = serde_json::from_value(serde_json::json!({
        "securityProfileName": "ports",
        "behaviors": [{
            "name": "few-ports",
            "metric": "aws:num-listening-tcp-ports",
            "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 5}}
        }]
    }))
    .unwrap();
    detect::apply_security_profile(&ctx, &req).await.unwrap();
    let target = "arn:aws:iot:us-east-1:000000000000:all/things";
    detect::attach_security_profile(&ctx, "ports", target)
        .await
        .unwrap();
    detect::detach_security_profile(&ctx, "ports", target)
        .await
        .unwrap();
    assert_eq!(changes.targeting.load(Ordering::SeqCst), 3);
    // A failed edit pokes nothing.
    detect::attach_security_profile(&ctx, "missing", target)
        .await
        .unwrap_err();
    assert_eq!(changes.targeting.load(Ordering::SeqCst), 3);
    detect::delete_security_profile(&ctx, "ports", None)
        .await
        .unwrap();
    assert_eq!(changes.targeting.load(Ordering::SeqCst), 4);
    assert_eq!(changes.custom_metrics.load(Ordering::SeqCst), 0);
}

//! Pure-engine throughput of Rules Detect (issue 5: ≥ 1,000,000 evaluations/s per core for
//! static count behaviors). Run with `cargo bench -p fleetward-core --bench detect`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fleetward_core::detect::engine::{BehaviorState, CompiledBehavior, Input, Verdict, evaluate};
use fleetward_core::detect::model::{Behavior, CustomMetricType, Dimension};
use fleetward_proto::decode::MetricValue;
use serde_json::json;

fn compile(v: serde_json::Value) -> CompiledBehavior {
    let behavior: Behavior = serde_json::from_value(v).unwrap();
    let custom = |_: &str| -> Option<CustomMetricType> { None };
    let dims = |_: &str| -> Option<&Dimension> { None };
    CompiledBehavior::compile(0, &behavior, &custom, &dims).unwrap()
}

/// Feeds `values` in turn, one datapoint every 300 s, and returns one evaluation per iteration.
fn run(c: &mut Criterion, name: &str, behavior: &CompiledBehavior, values: &[MetricValue]) {
    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        let mut state = BehaviorState::default();
        let mut next_id = || String::from("violation-id");
        let mut at_ms = 0i64;
        let mut i = 0usize;
        b.iter(|| {
            at_ms += 300_000;
            let value = &values[i % values.len()];
            i = i.wrapping_add(1);
            let o = evaluate(
                &mut state,
                behavior,
                black_box(Input::Datapoint {
                    at_ms,
                    value,
                    topic: None,
                    client_id: "dev-1",
                }),
                &mut next_id,
            );
            black_box(o)
        })
    });
    g.finish();
}

fn static_count(c: &mut Criterion) {
    let b = compile(json!({
        "name": "ports", "metric": "aws:num-listening-tcp-ports",
        "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 5},
                     "consecutiveDatapointsToAlarm": 1, "consecutiveDatapointsToClear": 1}
    }));
    let values = [MetricValue::Count(3), MetricValue::Count(7)];
    // Sanity: alternating values do flip the alarm on every datapoint.
    let mut state = BehaviorState::default();
    let mut id = || String::from("v");
    let mut events = 0;
    for (k, v) in values.iter().cycle().take(4).enumerate() {
        let o = evaluate(
            &mut state,
            &b,
            Input::Datapoint {
                at_ms: k as i64 * 300_000,
                value: v,
                topic: None,
                client_id: "dev-1",
            },
            &mut id,
        );
        let want = if k % 2 == 0 {
            Verdict::Compliant
        } else {
            Verdict::Violating
        };
        assert_eq!(o.verdict, want);
        events += usize::from(o.event.is_some());
    }
    assert_eq!(events, 3, "in-alarm, alarm-cleared, in-alarm");
    run(c, "static-count-alternating", &b, &values);
    run(c, "static-count-compliant", &b, &values[..1]);
}

fn windowed_count(c: &mut Criterion) {
    let b = compile(json!({
        "name": "bytes", "metric": "aws:all-bytes-out",
        "criteria": {"comparisonOperator": "less-than", "value": {"count": 1000},
                     "durationSeconds": 600,
                     "consecutiveDatapointsToAlarm": 1, "consecutiveDatapointsToClear": 1}
    }));
    // Sums over 600 s (two or three 300 s datapoints) alternate around the threshold.
    let values = [
        MetricValue::Count(100),
        MetricValue::Count(200),
        MetricValue::Count(900),
        MetricValue::Count(50),
        MetricValue::Count(50),
    ];
    run(c, "windowed-count-600s", &b, &values);
}

criterion_group!(benches, static_count, windowed_count);
criterion_main!(benches);

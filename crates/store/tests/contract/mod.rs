//! The store contract: what every backend must do, written once.
//!
//! Each test is a function generic over a [`Backend`], which opens a fresh, empty store and
//! can close and reopen it. [`store_contract!`] stamps every test out as a `#[tokio::test]`
//! for one backend, so a new backend is covered by one line, as quickwit's metastore suite does:
//! `store_contract!(sqlite_contract, sqlite::Sqlite);`. A test added here but not listed in the
//! macro is dead code, which clippy refuses.

pub mod detect;
pub mod registry_telemetry;

/// Every contract test, for [`store_contract!`].
pub mod suite {
    pub use super::detect::*;
    pub use super::registry_telemetry::*;
}

use std::future::Future;

use fleetward_store::{Page, PageRequest, Store, StoreError};

/// A store under test, with whatever it needs kept alive (a temporary directory, a database).
pub trait Backend: Sized + Send + Sync + 'static {
    /// The store type.
    type Store: Store;

    /// A fresh, empty store.
    fn open() -> impl Future<Output = Self> + Send;

    /// The store.
    fn store(&self) -> &Self::Store;

    /// Closes the store and opens the same database again: what survives is what was durable.
    fn reopen(self) -> impl Future<Output = Self> + Send;
}

/// A page request of `max` items after `token`.
pub fn page(max: u32, token: Option<String>) -> PageRequest {
    PageRequest {
        next_token: token,
        max_results: Some(max),
    }
}

/// Whether `e` is `NotFound` for this kind and name.
pub fn is_not_found(e: &StoreError, want_kind: &str, want_name: &str) -> bool {
    matches!(e, StoreError::NotFound { kind, name } if *kind == want_kind && name == want_name)
}

/// Hex of a string, for forging tokens.
pub fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Every page of a listing, fetched `max` at a time; asserts no page is larger than asked
/// and that paging ends.
pub async fn all_pages<T, F, Fut>(max: u32, mut fetch: F) -> Vec<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = Result<Page<T>, StoreError>>,
{
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let p = fetch(page(max, token)).await.unwrap();
        assert!(p.items.len() <= max as usize);
        pages.push(p.items);
        match p.next_token {
            Some(t) => token = Some(t),
            None => return pages,
        }
        assert!(pages.len() < 1000, "paging does not terminate");
    }
}

/// Instantiates the whole contract for a backend: `store_contract!(module_name, BackendType);`.
macro_rules! store_contract {
    ($module:ident, $backend:ty) => {
        store_contract!(@tests $module, $backend;
            things_create_get_list_delete,
            deleting_a_thing_removes_its_memberships_and_principals,
            things_page_three_times_and_reject_bad_tokens,
            groups_nest_and_guard_their_tree,
            group_membership_direct_and_recursive,
            certificates_are_unique_by_id_and_by_subject_serial,
            certificates_list_newest_first_across_pages,
            principals_attach_only_to_existing_things_and_certificates,
            cas_insert_and_list,
            policies_create_list_attach,
            policies_detach_and_delete_only_when_unattached,
            duplicate_reports_are_skipped,
            last_reports_gives_the_newest_per_thing,
            device_metric_values_by_range_with_paging,
            sparse_metric_scan_spans_many_reports,
            cloud_metric_values_by_range_with_paging,
            prune_deletes_reports_and_cloud_datapoints_before_the_cutoff,
            custom_metrics_create_get_update_delete,
            custom_metrics_page_and_reject_bad_tokens,
            dimensions_create_get_list_update_delete,
            security_profiles_create_get_list_delete,
            security_profile_updates_check_and_increment_the_version,
            security_profile_targets_attach_and_detach,
            behavior_states_upsert_load_delete_and_survive_reopening,
            violations_upsert_close_and_survive_reopening,
            active_violations_filter_and_page,
            violation_events_by_time_range_filters_and_pages,
            verification_state_is_set_on_the_violation_and_its_events,
            prune_removes_old_events_and_ended_violations_only,
            apply_detection_writes_a_step_in_order_and_skips_what_cannot_apply,
            racing_writers_cannot_both_pass_a_guard,
        );
    };
    (@tests $module:ident, $backend:ty; $($test:ident,)+) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::contract::suite::$test::<$backend>().await;
                }
            )+
        }
    };
}

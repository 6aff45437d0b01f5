//! What detection can measure: custom metrics and dimensions.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// What detection can measure: custom metrics and dimensions. Part of [`Store`](crate::Store).
#[async_trait]
pub trait CatalogStore: Send + Sync {
    /// Creates a custom metric; `AlreadyExists` if the name is taken.
    async fn create_custom_metric(&self, metric: &NewCustomMetric) -> StoreResult<CustomMetric>;

    /// A custom metric by name.
    async fn get_custom_metric(&self, name: &str) -> StoreResult<Option<CustomMetric>>;

    /// Custom metrics in name order, a page at a time.
    async fn list_custom_metrics(&self, page: &PageRequest) -> StoreResult<Page<CustomMetric>>;

    /// Sets (or, with `None`, clears) a custom metric's display name; `NotFound` if absent.
    async fn update_custom_metric(
        &self,
        name: &str,
        display_name: Option<&str>,
    ) -> StoreResult<CustomMetric>;

    /// Deletes a custom metric; `NotFound` if absent.
    async fn delete_custom_metric(&self, name: &str) -> StoreResult<()>;

    /// Creates a dimension; `AlreadyExists` if the name is taken.
    async fn create_dimension(&self, dimension: &NewDimension) -> StoreResult<Dimension>;

    /// A dimension by name.
    async fn get_dimension(&self, name: &str) -> StoreResult<Option<Dimension>>;

    /// Dimensions in name order, a page at a time.
    async fn list_dimensions(&self, page: &PageRequest) -> StoreResult<Page<Dimension>>;

    /// Replaces a dimension's values; `NotFound` if absent.
    async fn update_dimension(
        &self,
        name: &str,
        string_values: &[String],
    ) -> StoreResult<Dimension>;

    /// Deletes a dimension; `NotFound` if absent.
    async fn delete_dimension(&self, name: &str) -> StoreResult<()>;
}

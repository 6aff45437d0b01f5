//! AWS vocabulary every layer shares: ARNs, error codes, paging, time.
//!
//! These are the small facts that make Fleetward answer like AWS IoT: the resource names in
//! responses, the error name and HTTP status of every failure, the `nextToken` format, and
//! epoch-millisecond time read from one [`Clock`]. Each exists once here, so the service layer,
//! the API, the CLI and the server cannot drift apart on them.

pub mod arn;
pub mod error;
pub mod paging;
pub mod time;

pub use arn::ArnScope;
pub use error::{AwsCode, AwsError};
pub use paging::{Page, PageRequest, Paging, PagingError};
pub use time::{Clock, ManualClock, ScaledClock, SystemClock, seconds};

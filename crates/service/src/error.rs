//! The service layer's one error type: every operation fails with a [`ServiceError`], and each
//! variant is one row of the AWS error-code table ([`AwsCode`]), so the API's status, the error
//! name SDKs read and the CLI's exit status come from the same place.

use fleetward_core::aws::{AwsCode, AwsError, PagingError};
use fleetward_core::detect::targets::TargetError;
use fleetward_store::StoreError;

/// Why an operation failed, one variant per AWS error the API answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or breaks a rule; every problem found is listed, so an
    /// operator fixes a request in one pass instead of one error per attempt.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The named resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A resource with this name already exists with another configuration.
    #[error("{0}")]
    AlreadyExists(String),
    /// `expectedVersion` is not the current version.
    #[error("{0}")]
    VersionConflict(String),
    /// The resource is still in use (a policy attached to a certificate).
    #[error("{0}")]
    DeleteConflict(String),
    /// A quota is reached (five profiles per target, 100 custom metrics, …).
    #[error("{0}")]
    LimitExceeded(String),
    /// The certificate is malformed, expired, or not signed by a registered CA.
    #[error("{0}")]
    CertificateValidation(String),
    /// The certificate (or its CA) is in a state that forbids the operation.
    #[error("{0}")]
    CertificateState(String),
    /// The policy document is not a policy Fleetward can evaluate faithfully.
    #[error("{0}")]
    MalformedPolicy(String),
    /// The server cannot do this now (for example, it has no CA to issue certificates with).
    #[error("{0}")]
    Unavailable(String),
    /// The store failed; not the caller's fault.
    #[error("internal failure: {0}")]
    Internal(String),
}

impl AwsError for ServiceError {
    fn code(&self) -> AwsCode {
        match self {
            ServiceError::Invalid(_) => AwsCode::InvalidRequest,
            ServiceError::NotFound(_) => AwsCode::ResourceNotFound,
            ServiceError::AlreadyExists(_) => AwsCode::ResourceAlreadyExists,
            ServiceError::VersionConflict(_) => AwsCode::VersionConflict,
            ServiceError::DeleteConflict(_) => AwsCode::DeleteConflict,
            ServiceError::LimitExceeded(_) => AwsCode::LimitExceeded,
            ServiceError::CertificateValidation(_) => AwsCode::CertificateValidation,
            ServiceError::CertificateState(_) => AwsCode::CertificateState,
            ServiceError::MalformedPolicy(_) => AwsCode::MalformedPolicy,
            ServiceError::Unavailable(_) => AwsCode::ServiceUnavailable,
            ServiceError::Internal(_) => AwsCode::InternalFailure,
        }
    }
}

impl ServiceError {
    /// The AWS error name (the `x-amzn-ErrorType` the HTTP layer sends), so SDKs raise the
    /// same exception class they would against AWS.
    pub fn name(&self) -> &'static str {
        self.code().name()
    }

    /// Whether the caller can fix it by changing the request (CLI exit 2, HTTP 4xx).
    pub fn is_user_error(&self) -> bool {
        self.code().is_user_error()
    }

    /// An `InvalidRequestException` with one message.
    pub fn invalid(message: impl Into<String>) -> Self {
        ServiceError::Invalid(vec![message.into()])
    }

    /// A `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ServiceError::NotFound(message.into())
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ServiceError::NotFound(e.to_string()),
            StoreError::AlreadyExists { .. } => ServiceError::AlreadyExists(e.to_string()),
            StoreError::Conflict(m) => ServiceError::VersionConflict(m),
            StoreError::InvalidToken => ServiceError::invalid(PagingError::Token.to_string()),
            StoreError::Backend(m) => ServiceError::Internal(m),
        }
    }
}

impl From<PagingError> for ServiceError {
    fn from(e: PagingError) -> Self {
        ServiceError::invalid(e.to_string())
    }
}

impl From<TargetError> for ServiceError {
    fn from(e: TargetError) -> Self {
        match e {
            TargetError::InvalidArn { .. } => ServiceError::invalid(e.to_string()),
            TargetError::LimitExceeded { .. } => ServiceError::LimitExceeded(e.to_string()),
        }
    }
}

/// Result of a service operation.
pub type ServiceResult<T> = Result<T, ServiceError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_has_its_aws_row() {
        assert_eq!(
            ServiceError::LimitExceeded(String::new()).code().status(),
            410
        );
        assert_eq!(
            ServiceError::CertificateState(String::new()).name(),
            "CertificateStateException"
        );
        assert!(!ServiceError::Internal(String::new()).is_user_error());
        assert_eq!(
            ServiceError::from(StoreError::InvalidToken).to_string(),
            "nextToken: not a token this listing issued"
        );
    }
}

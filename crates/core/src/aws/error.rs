//! One table of AWS error codes: the name SDKs read from `x-amzn-ErrorType` and the HTTP
//! status botocore's `iot` model gives it.
//!
//! Every error a service operation can return maps to exactly one [`AwsCode`] through
//! [`AwsError`], and the API turns that into a response with no table of its own. Adding an
//! error is adding one row here, so the CLI's exit status, the API's status and the error name
//! cannot disagree.

/// Declares [`AwsCode`] from rows of `Variant = ("AwsName", status)`.
macro_rules! aws_codes {
    ($($(#[$doc:meta])* $variant:ident = ($name:literal, $status:literal),)+) => {
        /// An AWS error, as the API answers it and the CLI reports it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AwsCode {
            $($(#[$doc])* $variant,)+
        }

        impl AwsCode {
            /// Every code, in table order.
            pub const ALL: &'static [AwsCode] = &[$(AwsCode::$variant,)+];

            /// The error name (`x-amzn-ErrorType`), so SDKs raise the exception class they
            /// would against AWS.
            pub const fn name(self) -> &'static str {
                match self {
                    $(AwsCode::$variant => $name,)+
                }
            }

            /// The HTTP status the model gives this error.
            pub const fn status(self) -> u16 {
                match self {
                    $(AwsCode::$variant => $status,)+
                }
            }
        }
    };
}

aws_codes! {
    /// The request is malformed or breaks a rule.
    InvalidRequest = ("InvalidRequestException", 400),
    /// The named resource does not exist.
    ResourceNotFound = ("ResourceNotFoundException", 404),
    /// A resource with this name exists with another configuration.
    ResourceAlreadyExists = ("ResourceAlreadyExistsException", 409),
    /// `expectedVersion` is not the current version.
    VersionConflict = ("VersionConflictException", 409),
    /// A quota is reached. The model gives it HTTP 410.
    LimitExceeded = ("LimitExceededException", 410),
    /// The resource is still in use.
    DeleteConflict = ("DeleteConflictException", 409),
    /// The certificate is malformed, expired, or not signed by a registered CA.
    CertificateValidation = ("CertificateValidationException", 400),
    /// The certificate's state forbids the operation. The model gives it HTTP 406.
    CertificateState = ("CertificateStateException", 406),
    /// A certificate with this subject and serial is already registered.
    CertificateConflict = ("CertificateConflictException", 409),
    /// The policy document is not one Fleetward can evaluate faithfully.
    MalformedPolicy = ("MalformedPolicyException", 400),
    /// Too many requests for this key and operation; botocore retries it by name.
    Throttling = ("ThrottlingException", 400),
    /// The server cannot do this now (no CA to issue with, shutting down).
    ServiceUnavailable = ("ServiceUnavailableException", 503),
    /// The caller may not do this.
    Unauthorized = ("UnauthorizedException", 401),
    /// No signature at all.
    MissingAuthenticationToken = ("MissingAuthenticationTokenException", 403),
    /// The signature is incomplete or malformed.
    IncompleteSignature = ("IncompleteSignatureException", 403),
    /// The signature does not match.
    InvalidSignature = ("InvalidSignatureException", 403),
    /// The access key is unknown or disabled.
    UnrecognizedClient = ("UnrecognizedClientException", 403),
    /// The declared body hash does not match the body.
    ContentSha256Mismatch = ("XAmzContentSHA256Mismatch", 400),
    /// The body is larger than the API accepts.
    RequestTooLarge = ("InvalidRequestException", 413),
    /// No operation at this method and path.
    UnknownOperation = ("UnknownOperationException", 404),
    /// Fleetward failed; not the caller's fault. The detail is logged, not sent.
    InternalFailure = ("InternalFailureException", 500),
}

impl AwsCode {
    /// Whether the caller can fix it by changing the request (CLI exit 2, HTTP 4xx).
    pub const fn is_user_error(self) -> bool {
        self.status() < 500
    }

    /// Whether it says the resource is missing (CLI exit 3).
    pub const fn is_not_found(self) -> bool {
        matches!(self, AwsCode::ResourceNotFound)
    }
}

/// An error that answers as one AWS error: every service error implements it, and the API's
/// `From<E: AwsError>` is the only conversion to a response.
pub trait AwsError: std::error::Error {
    /// Its row in the table.
    fn code(&self) -> AwsCode;

    /// The AWS error name.
    fn name(&self) -> &'static str {
        self.code().name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_statuses_follow_the_model() {
        assert_eq!(AwsCode::LimitExceeded.status(), 410);
        assert_eq!(AwsCode::CertificateState.status(), 406);
        assert_eq!(
            AwsCode::ResourceNotFound.name(),
            "ResourceNotFoundException"
        );
        assert!(AwsCode::InvalidRequest.is_user_error());
        assert!(!AwsCode::InternalFailure.is_user_error());
        for code in AwsCode::ALL {
            assert!((400..600).contains(&code.status()), "{code:?}");
            assert!(!code.name().is_empty());
        }
    }
}

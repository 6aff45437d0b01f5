//! ARNs: `arn:aws:iot:<region>:<account>:<resource>`.

/// The region and account ARNs are built with. A single-tenant server answers for one account;
/// the values only make responses look like AWS's to scripts that parse ARNs, and make policies
/// written for AWS match the resources the broker asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArnScope {
    /// The region segment, e.g. `us-east-1`.
    pub region: String,
    /// The account segment: twelve digits.
    pub account: String,
}

impl Default for ArnScope {
    /// The same defaults as `fleetward serve`.
    fn default() -> Self {
        ArnScope::new("us-east-1", "000000000000")
    }
}

impl ArnScope {
    /// ARNs for a deployment that calls itself `region` / `account`.
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Self {
        ArnScope {
            region: region.into(),
            account: account.into(),
        }
    }

    /// `arn:aws:iot:<region>:<account>:<resource>`.
    pub fn arn(&self, resource: &str) -> String {
        format!("arn:aws:iot:{}:{}:{resource}", self.region, self.account)
    }

    fn typed(&self, kind: &str, name: &str) -> String {
        self.arn(&format!("{kind}/{name}"))
    }

    /// The resource of `iot:Connect`.
    pub fn client(&self, client_id: &str) -> String {
        self.typed("client", client_id)
    }

    /// The resource of `iot:Publish` and `iot:Receive`.
    pub fn topic(&self, topic: &str) -> String {
        self.typed("topic", topic)
    }

    /// The resource of `iot:Subscribe`.
    pub fn topic_filter(&self, filter: &str) -> String {
        self.typed("topicfilter", filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_aws_shaped_arns() {
        let s = ArnScope::new("eu-west-1", "123456789012");
        assert_eq!(
            s.arn("thing/a"),
            "arn:aws:iot:eu-west-1:123456789012:thing/a"
        );
        assert_eq!(
            s.client("c1"),
            "arn:aws:iot:eu-west-1:123456789012:client/c1"
        );
        assert_eq!(
            s.topic("t/x"),
            "arn:aws:iot:eu-west-1:123456789012:topic/t/x"
        );
        assert_eq!(
            s.topic_filter("t/#"),
            "arn:aws:iot:eu-west-1:123456789012:topicfilter/t/#"
        );
        assert_eq!(ArnScope::default().account, "000000000000");
    }
}

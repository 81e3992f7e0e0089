//! Validate: the spec's rules (from `api`, the same as the CRD schema and the offline
//! `validate`), then the references, into a complete [`DesiredCluster`].

use cache_operator_api::RedisCluster;
use cache_operator_api::model::DesiredCluster;
use cache_operator_api::validate::FieldErrors;

use super::dereference::UserGroupIds;

#[derive(Debug)]
pub enum Validated {
    // Boxed: the day-2 settings make a desired cluster much larger than the other variants.
    Desired(Box<DesiredCluster>),
    /// The spec breaks a rule: stalled until it changes.
    InvalidSpec(FieldErrors),
    /// The spec is fine but a referenced object is not there yet.
    Waiting(String),
}

pub fn validate(obj: &RedisCluster, user_groups: UserGroupIds) -> Validated {
    if let Err(errors) = obj.desired() {
        return Validated::InvalidSpec(errors);
    }
    match user_groups {
        Err(waiting) => Validated::Waiting(waiting),
        Ok(ids) => match obj.desired_with_user_groups(ids) {
            Ok(d) => Validated::Desired(Box::new(d)),
            Err(errors) => Validated::InvalidSpec(errors),
        },
    }
}

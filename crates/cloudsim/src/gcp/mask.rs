//! `updateMask` as both Memorystore APIs read it: comma-separated paths, snake_case or lowerCamel,
//! a nested path (`maintenancePolicy.weeklyMaintenanceWindow`, as gcloud sends) naming its
//! top-level field; each product says which fields it updates and which it refuses.

use super::error::RpcError;
use super::protojson::camel_case;

/// What a top-level field is to a product's update.
pub enum MaskPath<F> {
    /// It changes this field.
    Update(F),
    /// Immutable or output-only: "cannot be updated".
    Immutable,
    /// Not a field of the resource.
    Unknown,
}

/// The distinct fields `mask` names, by `field` (given the lowerCamel top-level name); `kind` is
/// the resource's message name for errors.
pub fn parse_mask<F: PartialEq>(
    mask: Option<&str>,
    kind: &str,
    field: impl Fn(&str) -> MaskPath<F>,
) -> Result<Vec<F>, RpcError> {
    let mask = mask.unwrap_or("").trim();
    if mask.is_empty() {
        return Err(RpcError::bad_field(
            "update_mask",
            "update_mask is required and must name at least one field",
        ));
    }
    let mut out = Vec::new();
    for raw in mask.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let top = camel_case(raw.split('.').next().unwrap_or(raw));
        match field(&top) {
            MaskPath::Update(f) => {
                if !out.contains(&f) {
                    out.push(f);
                }
            }
            MaskPath::Immutable => {
                return Err(RpcError::bad_field(
                    "update_mask",
                    format!("Field {raw:?} cannot be updated"),
                ));
            }
            MaskPath::Unknown => {
                return Err(RpcError::bad_field(
                    "update_mask",
                    format!("Invalid update_mask path {raw:?}: no such {kind} field"),
                ));
            }
        }
    }
    Ok(out)
}

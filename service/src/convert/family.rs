//! [`ModelFamily`] ↔ the proto enum `statecast.v1.ModelFamily`.
use statecast_models::zoo::ModelFamily;
use statecast_proto::v1 as pb;

use crate::{Error, Result};

/// The wire value of a family.
pub fn to_proto(f: ModelFamily) -> pb::ModelFamily {
    match f {
        ModelFamily::Spacetime => pb::ModelFamily::Spacetime,
        ModelFamily::Linear => pb::ModelFamily::Linear,
        ModelFamily::Repeat => pb::ModelFamily::Repeat,
        ModelFamily::Simba => pb::ModelFamily::Simba,
        ModelFamily::Chimera => pb::ModelFamily::Chimera,
    }
}

/// The family of a wire value: `None` for UNSPECIFIED (0).
///
/// # Errors
/// [`Error::InvalidArgument`] naming `field` for a number that is no family.
pub fn from_proto(field: &str, value: i32) -> Result<Option<ModelFamily>> {
    match pb::ModelFamily::try_from(value) {
        Ok(pb::ModelFamily::Unspecified) => Ok(None),
        Ok(pb::ModelFamily::Spacetime) => Ok(Some(ModelFamily::Spacetime)),
        Ok(pb::ModelFamily::Linear) => Ok(Some(ModelFamily::Linear)),
        Ok(pb::ModelFamily::Repeat) => Ok(Some(ModelFamily::Repeat)),
        Ok(pb::ModelFamily::Simba) => Ok(Some(ModelFamily::Simba)),
        Ok(pb::ModelFamily::Chimera) => Ok(Some(ModelFamily::Chimera)),
        Err(_) => Err(Error::InvalidArgument {
            field: field.into(),
            reason: format!("{value} is not a model family"),
        }),
    }
}

/// The wire family of a registered version's architecture name (`SpaceTime`); UNSPECIFIED for
/// a name this build does not know.
pub fn of_kind(kind: &str) -> pb::ModelFamily {
    kind.parse::<ModelFamily>()
        .map_or(pb::ModelFamily::Unspecified, to_proto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_round_trips_and_unknown_numbers_are_refused() {
        for f in ModelFamily::ALL {
            assert_eq!(from_proto("f", to_proto(f) as i32).unwrap(), Some(f));
            assert_eq!(of_kind(f.config_kind()), to_proto(f));
        }
        assert_eq!(from_proto("f", 0).unwrap(), None);
        let err = from_proto("model_family", 99).unwrap_err();
        assert_eq!(
            err.to_string(),
            Error::InvalidArgument {
                field: "model_family".into(),
                reason: "99 is not a model family".into()
            }
            .to_string()
        );
        assert_eq!(of_kind("Transformer"), pb::ModelFamily::Unspecified);
    }
}

//! Settings both Memorystore APIs shape alike: the persistence config (whose enums differ by name
//! between the APIs but not by number, so it is generic over them) and the zone distribution.

use serde_json::{Value, json};

use super::error::RpcError;
use super::protojson::{Obj, ProtoEnum, proto_enum};

/// `PersistenceConfig.mode` numbers, the same in both APIs.
const MODE_UNSPECIFIED: i32 = 0;
const MODE_DISABLED: i32 = 1;
const MODE_RDB: i32 = 2;
const MODE_AOF: i32 = 3;
/// `RDBConfig.SnapshotPeriod.ONE_HOUR`, the default period.
const ONE_HOUR: i32 = 1;
/// `AOFConfig.AppendFsync` every second (`EVERYSEC`, `EVERY_SEC`), the default.
const FSYNC_EVERY_SECOND: i32 = 2;

fn known<E: ProtoEnum>(n: i32) -> E {
    E::from_number(n).expect("the persistence enums of both APIs define this number")
}

#[derive(Debug, Clone, PartialEq)]
pub struct RdbConfig<P> {
    pub period: P,
    pub start_time: Option<String>,
}

/// `persistenceConfig` over the API's mode (`M`), snapshot period (`P`) and fsync (`F`) enums.
#[derive(Debug, Clone, PartialEq)]
pub struct Persistence<M, P, F> {
    pub mode: M,
    pub rdb: Option<RdbConfig<P>>,
    pub aof: Option<F>,
}

impl<M: ProtoEnum, P: ProtoEnum, F: ProtoEnum> Default for Persistence<M, P, F> {
    fn default() -> Self {
        Self {
            mode: known(MODE_DISABLED),
            rdb: None,
            aof: None,
        }
    }
}

impl<M: ProtoEnum, P: ProtoEnum, F: ProtoEnum> Persistence<M, P, F> {
    /// Reads a request's config: the mode follows the one config given when unset, and the
    /// chosen mode's config gets its defaults.
    pub fn parse(mut o: Obj) -> Result<Self, RpcError> {
        let field = o.path().to_owned();
        let mode = o.enumeration::<M>("mode")?;
        let rdb = o
            .object("rdbConfig")?
            .map(|mut r| {
                let period = r.enumeration::<P>("rdbSnapshotPeriod")?;
                let start_time = r.string("rdbSnapshotStartTime")?;
                r.finish()?;
                Ok::<_, RpcError>(RdbConfig {
                    period: period
                        .filter(|p| p.number() != 0)
                        .unwrap_or_else(|| known(ONE_HOUR)),
                    start_time,
                })
            })
            .transpose()?;
        let aof = o
            .object("aofConfig")?
            .map(|mut a| {
                let f = a.enumeration::<F>("appendFsync")?;
                a.finish()?;
                Ok::<_, RpcError>(
                    f.filter(|f| f.number() != 0)
                        .unwrap_or_else(|| known(FSYNC_EVERY_SECOND)),
                )
            })
            .transpose()?;
        o.finish()?;
        if rdb.is_some() && aof.is_some() {
            return Err(RpcError::bad_field(
                &field,
                "Unable to update RDB and AOF config at the same time: set only the config of the chosen mode",
            ));
        }
        let mode = match mode.map(ProtoEnum::number) {
            Some(m) if m != MODE_UNSPECIFIED => m,
            _ if rdb.is_some() => MODE_RDB,
            _ if aof.is_some() => MODE_AOF,
            _ => MODE_DISABLED,
        };
        Ok(match mode {
            MODE_RDB => Self {
                mode: known(MODE_RDB),
                rdb: Some(rdb.unwrap_or(RdbConfig {
                    period: known(ONE_HOUR),
                    start_time: None,
                })),
                aof: None,
            },
            MODE_AOF => Self {
                mode: known(MODE_AOF),
                rdb: None,
                aof: Some(aof.unwrap_or_else(|| known(FSYNC_EVERY_SECOND))),
            },
            _ => Self::default(),
        })
    }

    pub fn render(&self, ints: bool) -> Value {
        let mut v = json!({"mode": self.mode.json(ints)});
        if let Some(r) = &self.rdb {
            let mut rdb = json!({"rdbSnapshotPeriod": r.period.json(ints)});
            if let Some(t) = &r.start_time {
                rdb["rdbSnapshotStartTime"] = t.clone().into();
            }
            v["rdbConfig"] = rdb;
        }
        if let Some(a) = self.aof {
            v["aofConfig"] = json!({"appendFsync": a.json(ints)});
        }
        v
    }
}

proto_enum!(ZoneDistributionMode, "ZoneDistributionConfig.ZoneDistributionMode", {
    ZONE_DISTRIBUTION_MODE_UNSPECIFIED = 0,
    MULTI_ZONE = 1,
    SINGLE_ZONE = 2,
});

/// `zoneDistributionConfig` (immutable in both APIs).
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneDistribution {
    pub mode: ZoneDistributionMode,
    pub zone: Option<String>,
}

impl Default for ZoneDistribution {
    fn default() -> Self {
        Self {
            mode: ZoneDistributionMode::MULTI_ZONE,
            zone: None,
        }
    }
}

impl ZoneDistribution {
    pub fn parse(mut o: Obj, region: &str) -> Result<Self, RpcError> {
        let field = format!("{}.zone", o.path());
        let mode = o.enumeration::<ZoneDistributionMode>("mode")?;
        let zone = o.string("zone")?;
        o.finish()?;
        let mode = match mode {
            Some(ZoneDistributionMode::ZONE_DISTRIBUTION_MODE_UNSPECIFIED) | None => {
                ZoneDistributionMode::MULTI_ZONE
            }
            Some(m) => m,
        };
        if mode == ZoneDistributionMode::SINGLE_ZONE && zone.is_none() {
            return Err(RpcError::bad_field(
                &field,
                "zone is required when zone distribution mode is SINGLE_ZONE",
            ));
        }
        if let Some(z) = &zone
            && !z.starts_with(&format!("{region}-"))
        {
            return Err(RpcError::bad_field(
                &field,
                format!("zone {z:?} is not in region {region:?}"),
            ));
        }
        Ok(Self { mode, zone })
    }

    pub fn render(&self, ints: bool) -> Value {
        let mut v = json!({"mode": self.mode.json(ints)});
        if let Some(z) = &self.zone {
            v["zone"] = z.clone().into();
        }
        v
    }
}

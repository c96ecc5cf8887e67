//! The calls the actors need from ChargePoint, as a trait, with the queries they take.
//!
//! `src/soap` implements [`ChargePointApi`] over HTTP; tests may implement it in memory. One
//! implementation value talks for one account (one username/password). Paging (`moreFlag`,
//! `startRecord`) is the implementation's business: every list method returns the whole list,
//! and awaits [`crate::pace_request`] before each request it sends, so a list's pages keep to
//! the account's rate as separate calls do.
//! "No data" answers (136 for sessions, 153 for alarms) are empty lists, not errors.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use cp_registry::{
    limits, Alarm, ChargingSession, GroupId, LoadReport, PortNumber, StationId, StationInfo,
    StationRights, StationStatus,
};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::SoapError;

/// getStationStatus: the stations to report. Empty means every station the account can see.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StatusQuery {
    pub station_ids: Vec<StationId>,
}

/// getLoad: by station group (one call for the whole group) or by single station.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LoadQuery {
    Group(GroupId),
    Station(StationId),
}

/// getAlarms filters. All `None` means every alarm the account can see.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AlarmQuery {
    pub station_id: Option<StationId>,
    pub group_id: Option<GroupId>,
    pub port: Option<PortNumber>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
}

/// clearAlarms: which alarms to clear.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClearAlarmsQuery {
    pub station_id: Option<StationId>,
    pub group_id: Option<GroupId>,
    pub port: Option<PortNumber>,
    pub alarm_type: Option<String>,
    pub clear_reason: Option<String>,
}

/// getStationRights filters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RightsQuery {
    pub station_id: Option<StationId>,
    pub group_id: Option<String>,
}

/// getChargingSessionData filters. The service caps a page at 100 sessions, oldest first.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SessionQuery {
    pub station_id: Option<StationId>,
    pub session_id: Option<i64>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// getStations filters. All `None` means every station the account can see.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StationsQuery {
    pub station_id: Option<StationId>,
    pub group_id: Option<String>,
}

/// The cap a shed puts on a port or station: ChargePoint accepts exactly one of the two.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum ShedLimit {
    /// Maximum draw in kW (`allowedLoadPer…`), 0..=[`ShedLimit::MAX_ALLOWED_LOAD_KW`].
    AllowedLoad(f64),
    /// Percent of maximum power to shed (`percentShedPer…`), 0..=100.
    PercentShed(u8),
}

impl ShedLimit {
    /// What [`ShedLimit::allowed_load`] accepts, as a user's error message says it.
    pub const ALLOWED_LOAD_RANGE: &'static str = limits::ALLOWED_LOAD_RANGE;
    /// What [`ShedLimit::percent_shed`] accepts, as a user's error message says it.
    pub const PERCENT_SHED_RANGE: &'static str = limits::PERCENT_SHED_RANGE;
    /// The largest allowedLoad, in kW (see [`limits::MAX_ALLOWED_LOAD_KW`] for why).
    pub const MAX_ALLOWED_LOAD_KW: f64 = limits::MAX_ALLOWED_LOAD_KW;
    /// The most a shed can take off a port's maximum power, in percent.
    pub const MAX_PERCENT_SHED: u8 = limits::MAX_PERCENT_SHED;

    /// A cap of `kw` kilowatts.
    ///
    /// # Errors
    /// [`LimitError::AllowedLoad`] unless `kw` is a number from 0 to
    /// [`ShedLimit::MAX_ALLOWED_LOAD_KW`] (NaN is not).
    pub fn allowed_load(kw: f64) -> Result<ShedLimit, LimitError> {
        if limits::allowed_load_in_range(kw) {
            Ok(ShedLimit::AllowedLoad(kw))
        } else {
            Err(LimitError::AllowedLoad { kw })
        }
    }

    /// A shed of `pct` percent of maximum power.
    ///
    /// # Errors
    /// [`LimitError::PercentShed`] unless `pct` is 0..=100.
    pub fn percent_shed(pct: i64) -> Result<ShedLimit, LimitError> {
        u8::try_from(pct)
            .ok()
            .filter(|p| limits::percent_shed_in_range(f64::from(*p)))
            .map(ShedLimit::PercentShed)
            .ok_or(LimitError::PercentShed { pct })
    }

    /// This limit, if it is in range. The variants are public, so a limit built from one
    /// directly (a request read off the wire, a test) has not been checked.
    ///
    /// # Errors
    /// As [`ShedLimit::allowed_load`] and [`ShedLimit::percent_shed`].
    pub fn checked(self) -> Result<ShedLimit, LimitError> {
        match self {
            ShedLimit::AllowedLoad(kw) => ShedLimit::allowed_load(kw),
            ShedLimit::PercentShed(pct) => ShedLimit::percent_shed(i64::from(pct)),
        }
    }
}

/// A shed limit out of the range ChargePoint accepts. The values are kept as given, so a
/// caller may word its own message.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum LimitError {
    /// allowedLoad negative, over [`ShedLimit::MAX_ALLOWED_LOAD_KW`], infinite or NaN.
    #[error("allowedLoad must be a number of kW from 0 to 1000, not {kw}")]
    AllowedLoad { kw: f64 },
    /// percentShed below 0 or above 100.
    #[error("percentShed must be between 0 and 100, not {pct}")]
    PercentShed { pct: i64 },
}

/// What a set of registers (and the actor holding them) answers for: one port, or the whole
/// station. Ordered with the station first, then the ports by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoadScope {
    /// The station-level Load points: shedLoad with `allowedLoadPerStation` /
    /// `percentShedPerStation` and no `Ports`, clearShedState for the whole station.
    Station,
    /// One port's Load points: shedLoad and clearShedState naming the port.
    Port(PortNumber),
}

impl LoadScope {
    /// The scope of a point with `port` as its `Port #`: none means the whole station.
    pub fn of(port: Option<PortNumber>) -> LoadScope {
        port.map_or(LoadScope::Station, LoadScope::Port)
    }

    /// The port, for a port's scope.
    pub fn port(self) -> Option<PortNumber> {
        match self {
            LoadScope::Station => None,
            LoadScope::Port(port) => Some(port),
        }
    }
}

impl fmt::Display for LoadScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadScope::Station => f.write_str("the station"),
            LoadScope::Port(port) => write!(f, "port {port}"),
        }
    }
}

/// What a shedLoad or clearShedState addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShedScope {
    Group(GroupId),
    Station(StationId),
}

/// A per-port limit inside a station shed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PortShed {
    pub port: PortNumber,
    pub limit: ShedLimit,
}

/// shedLoad.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShedRequest {
    pub scope: ShedScope,
    /// Limit for the whole station (or each station of the group).
    pub station_limit: Option<ShedLimit>,
    /// Per-port limits; only meaningful with [`ShedScope::Station`].
    pub ports: Vec<PortShed>,
    /// Minutes the shed lasts; 0 means until cleared. Always sent: the schema requires it.
    pub time_interval_minutes: u32,
}

/// shedLoad's answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ShedAck {
    pub success: bool,
    pub group_id: Option<GroupId>,
    pub station_id: Option<StationId>,
    pub station_limit: Option<ShedLimit>,
    pub ports: Vec<PortShed>,
}

/// clearShedState.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClearShedRequest {
    pub scope: ShedScope,
    /// Ports to clear; empty clears the whole station (or group).
    pub ports: Vec<PortNumber>,
}

/// clearShedState's answer.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ClearShedAck {
    pub success: bool,
    pub group_id: Option<GroupId>,
    pub station_id: Option<StationId>,
}

/// The ChargePoint API as the actors see it: one value per account.
///
/// Every method has a deadline inside the implementation; an error says whether it is worth
/// retrying ([`SoapError::is_retryable`]).
#[async_trait]
pub trait ChargePointApi: Send + Sync + 'static {
    /// getStationStatus, following `moreFlag` until every page is read.
    async fn get_station_status(
        &self,
        query: &StatusQuery,
    ) -> Result<Vec<StationStatus>, SoapError>;

    /// getLoad for a group or a station.
    async fn get_load(&self, query: &LoadQuery) -> Result<LoadReport, SoapError>;

    /// getAlarms, every page. Code 153 (no alarms) is an empty list.
    async fn get_alarms(&self, query: &AlarmQuery) -> Result<Vec<Alarm>, SoapError>;

    /// clearAlarms. Code 153 (nothing to clear) is success.
    async fn clear_alarms(&self, query: &ClearAlarmsQuery) -> Result<(), SoapError>;

    /// getStationRights, every page, grouped by station.
    async fn get_station_rights(
        &self,
        query: &RightsQuery,
    ) -> Result<Vec<StationRights>, SoapError>;

    /// getChargingSessionData, every page (`MoreFlag`). Code 136 (no sessions) is an empty list.
    async fn get_charging_sessions(
        &self,
        query: &SessionQuery,
    ) -> Result<Vec<ChargingSession>, SoapError>;

    /// getStations, every page (at most 500 a page).
    async fn get_stations(&self, query: &StationsQuery) -> Result<Vec<StationInfo>, SoapError>;

    /// shedLoad.
    async fn shed_load(&self, request: &ShedRequest) -> Result<ShedAck, SoapError>;

    /// clearShedState.
    async fn clear_shed_state(&self, request: &ClearShedRequest)
        -> Result<ClearShedAck, SoapError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shed_limits_out_of_range_are_refused_with_the_value_given() {
        assert_eq!(
            ShedLimit::allowed_load(0.0),
            Ok(ShedLimit::AllowedLoad(0.0))
        );
        assert_eq!(
            ShedLimit::percent_shed(100),
            Ok(ShedLimit::PercentShed(100))
        );
        assert_eq!(
            ShedLimit::allowed_load(-1.0).unwrap_err().to_string(),
            "allowedLoad must be a number of kW from 0 to 1000, not -1"
        );
        assert_eq!(
            ShedLimit::allowed_load(ShedLimit::MAX_ALLOWED_LOAD_KW),
            Ok(ShedLimit::AllowedLoad(1000.0))
        );
        assert_eq!(
            ShedLimit::allowed_load(1e308),
            Err(LimitError::AllowedLoad { kw: 1e308 })
        );
        assert_eq!(
            ShedLimit::AllowedLoad(1000.5).checked(),
            Err(LimitError::AllowedLoad { kw: 1000.5 })
        );
        assert!(ShedLimit::allowed_load(f64::NAN).is_err());
        assert!(ShedLimit::allowed_load(f64::INFINITY).is_err());
        assert_eq!(
            ShedLimit::percent_shed(-1),
            Err(LimitError::PercentShed { pct: -1 })
        );
        assert_eq!(
            ShedLimit::PercentShed(101)
                .checked()
                .unwrap_err()
                .to_string(),
            "percentShed must be between 0 and 100, not 101"
        );
    }
}

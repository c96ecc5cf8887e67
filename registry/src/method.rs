//! The nine ChargePoint API 5.0 methods this project speaks.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One ChargePoint Web Services method. The catalog says which method feeds each attribute;
/// the SOAP layer names the wire operation after it; metrics label calls with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ApiMethod {
    GetStationStatus,
    GetLoad,
    GetAlarms,
    ClearAlarms,
    GetStationRights,
    GetChargingSessionData,
    GetStations,
    ShedLoad,
    ClearShedState,
}

impl ApiMethod {
    /// Every method, in the order the spec lists them.
    pub const ALL: [ApiMethod; 9] = [
        ApiMethod::GetStationStatus,
        ApiMethod::ShedLoad,
        ApiMethod::ClearShedState,
        ApiMethod::GetLoad,
        ApiMethod::GetAlarms,
        ApiMethod::ClearAlarms,
        ApiMethod::GetStationRights,
        ApiMethod::GetChargingSessionData,
        ApiMethod::GetStations,
    ];

    /// The WSDL operation name, e.g. `getStationStatus`.
    pub fn name(self) -> &'static str {
        match self {
            ApiMethod::GetStationStatus => "getStationStatus",
            ApiMethod::GetLoad => "getLoad",
            ApiMethod::GetAlarms => "getAlarms",
            ApiMethod::ClearAlarms => "clearAlarms",
            ApiMethod::GetStationRights => "getStationRights",
            ApiMethod::GetChargingSessionData => "getChargingSessionData",
            ApiMethod::GetStations => "getStations",
            ApiMethod::ShedLoad => "shedLoad",
            ApiMethod::ClearShedState => "clearShedState",
        }
    }

    /// Looks a method up by its WSDL operation name.
    pub fn from_name(name: &str) -> Option<ApiMethod> {
        ApiMethod::ALL.into_iter().find(|m| m.name() == name)
    }

    /// True for the methods that change a station (they jump the gateway's read queue).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            ApiMethod::ShedLoad | ApiMethod::ClearShedState | ApiMethod::ClearAlarms
        )
    }
}

impl fmt::Display for ApiMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

/// One value per API method, kept inline: a station's few per-method facts (when each method
/// was asked, when it answered, why it is failing) cost no hash table each, and thousands of
/// stations keep several. A method's slot is its declaration index; iteration follows
/// [`ApiMethod::ALL`].
#[derive(Debug, Clone, PartialEq)]
pub struct MethodMap<T> {
    slots: [Option<T>; METHODS],
}

/// How many methods there are: the length of [`ApiMethod::ALL`].
const METHODS: usize = ApiMethod::ALL.len();

impl<T> Default for MethodMap<T> {
    fn default() -> Self {
        MethodMap {
            slots: std::array::from_fn(|_| None),
        }
    }
}

impl<T> MethodMap<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, method: &ApiMethod) -> Option<&T> {
        self.slots[*method as usize].as_ref()
    }

    /// Sets `method`'s value; the one it replaces, if any.
    pub fn insert(&mut self, method: ApiMethod, value: T) -> Option<T> {
        self.slots[method as usize].replace(value)
    }

    pub fn remove(&mut self, method: &ApiMethod) -> Option<T> {
        self.slots[*method as usize].take()
    }

    pub fn contains_key(&self, method: &ApiMethod) -> bool {
        self.slots[*method as usize].is_some()
    }

    pub fn len(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    /// The methods with a value, and their values.
    pub fn iter(&self) -> impl Iterator<Item = (ApiMethod, &T)> {
        ApiMethod::ALL
            .into_iter()
            .filter_map(|method| Some((method, self.get(&method)?)))
    }

    pub fn keys(&self) -> impl Iterator<Item = ApiMethod> + '_ {
        self.iter().map(|(method, _)| method)
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }

    /// Takes every value out, leaving the map empty.
    pub fn drain(&mut self) -> impl Iterator<Item = (ApiMethod, T)> + '_ {
        ApiMethod::ALL
            .into_iter()
            .filter_map(|method| Some((method, self.remove(&method)?)))
    }
}

/// A set of API methods, kept inline (see [`MethodMap`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MethodSet(MethodMap<()>);

impl MethodSet {
    /// Adds `method`; whether it was not in the set.
    pub fn insert(&mut self, method: ApiMethod) -> bool {
        self.0.insert(method, ()).is_none()
    }

    /// Removes `method`; whether it was in the set.
    pub fn remove(&mut self, method: &ApiMethod) -> bool {
        self.0.remove(method).is_some()
    }

    pub fn contains(&self, method: &ApiMethod) -> bool {
        self.0.contains_key(method)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = ApiMethod> + '_ {
        self.0.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_its_own_slot() {
        let mut slots: Vec<usize> = ApiMethod::ALL.iter().map(|m| *m as usize).collect();
        slots.sort();
        assert_eq!(slots, (0..METHODS).collect::<Vec<_>>());
    }

    #[test]
    fn a_method_map_keeps_one_value_per_method() {
        let mut map = MethodMap::new();
        assert!(map.is_empty());
        assert_eq!(map.insert(ApiMethod::GetStations, 1), None);
        assert_eq!(map.insert(ApiMethod::GetLoad, 2), None);
        assert_eq!(map.insert(ApiMethod::GetStations, 3), Some(1));
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&ApiMethod::GetStations), Some(&3));
        assert!(!map.contains_key(&ApiMethod::ShedLoad));
        assert_eq!(
            map.iter().collect::<Vec<_>>(),
            vec![(ApiMethod::GetLoad, &2), (ApiMethod::GetStations, &3)],
            "in the order of ApiMethod::ALL"
        );
        assert_eq!(map.remove(&ApiMethod::GetLoad), Some(2));
        assert_eq!(
            map.drain().collect::<Vec<_>>(),
            vec![(ApiMethod::GetStations, 3)]
        );
        assert!(map.is_empty());
        let mut set = MethodSet::default();
        assert!(set.insert(ApiMethod::ShedLoad));
        assert!(!set.insert(ApiMethod::ShedLoad));
        assert!(set.contains(&ApiMethod::ShedLoad));
        assert!(set.remove(&ApiMethod::ShedLoad));
        assert!(set.is_empty());
    }
}

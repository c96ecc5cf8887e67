//! The simulated fleet's fixed shape: accounts and their plans, organisations, station groups,
//! and each station's static description (what getStations and getStationRights report).
//!
//! Naming scheme (other engineers' example fleets rely on it): account `k` (from 1) has username
//! `account<k>`, password `sim-password-<k>`, organisation `k:ORG0000k`, and stations
//! `k:<k×10000+1>`, `k:<k×10000+2>`, … (`1:10001`, `1:10002`, …, `2:20001`, …). Its stations are
//! cut into station groups of `stations_per_group` with sgIDs `k×1000+1`, `k×1000+2`, …, and
//! every station is also in the organisation-wide group `k×1000`.

use std::collections::HashMap;
use std::ops::Range;

use chrono::{DateTime, Duration, TimeZone, Utc};
use cp_registry::{
    ApiMethod, GroupId, PortInfo, PortNumber, Pricing, RightsProfile, Secret, StationId,
    StationInfo, StationRights,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What an account's API plan grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    /// Every one of the nine methods.
    Full,
    /// Monitoring without live power: getLoad, shedLoad and clearShedState answer 101.
    Restricted,
}

impl Plan {
    /// Whether the plan grants `method`.
    pub fn allows(self, method: ApiMethod) -> bool {
        match self {
            Plan::Full => true,
            Plan::Restricted => !matches!(
                method,
                ApiMethod::GetLoad | ApiMethod::ShedLoad | ApiMethod::ClearShedState
            ),
        }
    }

    /// The station-rights profile the account holds on its station groups.
    pub fn rights_profile(self) -> &'static str {
        match self {
            Plan::Full => "network_manager",
            Plan::Restricted => "station_viewer",
        }
    }

    /// The profile on the organisation-wide group.
    fn org_profile(self) -> &'static str {
        match self {
            Plan::Full => "org_admin",
            Plan::Restricted => "station_viewer",
        }
    }
}

/// One simulated API account.
#[derive(Debug, Clone)]
pub struct AccountSpec {
    pub username: String,
    pub password: Secret,
    pub plan: Plan,
    /// How many stations the account's organisation owns.
    pub stations: usize,
}

/// Everything that fixes the fleet's shape and its random course.
#[derive(Debug, Clone)]
pub struct SimFleetConfig {
    pub accounts: Vec<AccountSpec>,
    pub ports_per_station: u16,
    pub stations_per_group: usize,
    /// Seed of every random choice: same seed and same steps give the same fleet history.
    pub seed: u64,
    /// Simulated time at which the server starts answering. [`SimFleetConfig::generate`] fixes it
    /// (2024-06-03T12:00Z) so runs repeat; live use sets it to now (`run_sim` does).
    pub start: DateTime<Utc>,
    /// Simulated history run before `start`, so sessions and alarms exist from the first call.
    pub history: Duration,
}

/// Most ports a simulated station may have (ChargePoint stations have one or two; the limit
/// only keeps port numbers and session ids in range).
pub const MAX_PORTS_PER_STATION: u16 = 8;

/// Most stations one account may own: station numbers stay within the account's 10000 block
/// and session ids stay unique.
pub const MAX_STATIONS_PER_ACCOUNT: usize = 9_999;

/// Most station groups one account may have: its sgIDs stay within its 1000 block.
pub const MAX_GROUPS_PER_ACCOUNT: usize = 999;

impl SimFleetConfig {
    /// `stations` split as evenly as possible across `accounts` accounts (earlier accounts take
    /// the remainder). Account 1 has the full plan; even-numbered accounts are restricted.
    pub fn generate(stations: usize, ports_per_station: u16, accounts: usize) -> SimFleetConfig {
        let accounts = accounts.max(1);
        let specs = (1..=accounts)
            .map(|k| AccountSpec {
                username: format!("account{k}"),
                password: Secret::new(format!("sim-password-{k}")),
                plan: if k % 2 == 0 {
                    Plan::Restricted
                } else {
                    Plan::Full
                },
                stations: stations / accounts + usize::from(k <= stations % accounts),
            })
            .collect();
        SimFleetConfig {
            accounts: specs,
            ports_per_station,
            stations_per_group: 10,
            seed: 1,
            start: Utc
                .with_ymd_and_hms(2024, 6, 3, 12, 0, 0)
                .single()
                .unwrap_or_default(),
            history: Duration::hours(24),
        }
    }

    /// Checks the limits the naming scheme needs.
    ///
    /// # Errors
    /// A message naming the setting that is out of range.
    pub fn validate(&self) -> Result<(), String> {
        if self.accounts.is_empty() {
            return Err("at least one account is needed".into());
        }
        if !(1..=MAX_PORTS_PER_STATION).contains(&self.ports_per_station) {
            return Err(format!(
                "ports per station must be 1..={MAX_PORTS_PER_STATION}, got {}",
                self.ports_per_station
            ));
        }
        if self.stations_per_group == 0 {
            return Err("stations per group must be at least 1".into());
        }
        if let Some(a) = self
            .accounts
            .iter()
            .find(|a| a.stations > MAX_STATIONS_PER_ACCOUNT)
        {
            return Err(format!(
                "account {} has {} stations; at most {MAX_STATIONS_PER_ACCOUNT} per account",
                a.username, a.stations
            ));
        }
        if let Some(a) = self
            .accounts
            .iter()
            .find(|a| a.stations.div_ceil(self.stations_per_group) > MAX_GROUPS_PER_ACCOUNT)
        {
            return Err(format!(
                "account {} would have {} station groups; at most {MAX_GROUPS_PER_ACCOUNT} \
                 (raise stations per group)",
                a.username,
                a.stations.div_ceil(self.stations_per_group)
            ));
        }
        if self.history < Duration::zero() {
            return Err("history must not be negative".into());
        }
        Ok(())
    }
}

impl Default for SimFleetConfig {
    /// 50 stations × 2 ports over two accounts: what `chargepoint-supervisor sim` serves.
    fn default() -> Self {
        SimFleetConfig::generate(50, 2, 2)
    }
}

/// An account as the model keeps it.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub username: String,
    pub password: Secret,
    pub plan: Plan,
    pub org_id: String,
    pub org_name: String,
    /// Indexes into [`Layout::stations`]: an account's stations are laid out together.
    pub stations: Range<usize>,
}

/// A station group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: GroupId,
    pub name: String,
    pub account: usize,
    pub profile: &'static str,
    /// Indexes into [`Layout::stations`].
    pub stations: Vec<usize>,
}

/// A station's fixed facts.
#[derive(Debug, Clone)]
pub(crate) struct StationSpec {
    pub id: StationId,
    pub account: usize,
    pub name: String,
    pub model: String,
    pub serial: String,
    pub mac: String,
    pub address: String,
    /// Every group that contains the station; the first (its smallest) is the sgID/sgName
    /// getStations reports.
    pub groups: Vec<usize>,
    /// Each port's maximum draw, kW.
    pub port_max_kw: Vec<f64>,
    pub info: StationInfo,
}

/// The whole fixed shape.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub accounts: Vec<Account>,
    pub groups: Vec<Group>,
    pub stations: Vec<StationSpec>,
    /// Station and group by ID: a 500-station request looks up 500 IDs among up to
    /// 4 × 9,999 stations, which a scan would make quadratic.
    station_index: HashMap<StationId, usize>,
    group_index: HashMap<GroupId, usize>,
}

/// Towns the simulated stations stand in: (city, state, postal code, lat, long).
const TOWNS: [(&str, &str, &str, f64, f64); 4] = [
    ("Oakland", "California", "94612", 37.8044, -122.2712),
    ("Richland", "Washington", "99354", 46.2857, -119.2845),
    ("Golden", "Colorado", "80401", 39.7555, -105.2211),
    ("Knoxville", "Tennessee", "37902", 35.9606, -83.9207),
];

/// Nameplate of the simulated L2 port: 240 V × 30 A ≈ 7.2 kW, derated to 6.6 kW.
const PORT_MAX_KW: f64 = 6.6;

impl Layout {
    pub fn new(config: &SimFleetConfig) -> Layout {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x5eed_1a70);
        let mut layout = Layout {
            accounts: Vec::new(),
            groups: Vec::new(),
            stations: Vec::new(),
            station_index: HashMap::new(),
            group_index: HashMap::new(),
        };
        for (a, spec) in config.accounts.iter().enumerate() {
            let k = a + 1;
            let first = layout.stations.len();
            let mut account = Account {
                username: spec.username.clone(),
                password: spec.password.clone(),
                plan: spec.plan,
                org_id: format!("{k}:ORG{k:05}"),
                org_name: format!("Simulated Organisation {k}"),
                stations: first..first + spec.stations,
            };
            let org_group = layout.groups.len();
            layout.groups.push(Group {
                id: GroupId(group_base(k)),
                name: format!("{} All Stations", account.org_name),
                account: a,
                profile: spec.plan.org_profile(),
                stations: Vec::new(),
            });
            for s in 0..spec.stations {
                let g = s / config.stations_per_group;
                let group_id = GroupId(group_base(k) + 1 + g as i32);
                if layout.groups.last().map(|gr| gr.id) != Some(group_id) {
                    layout.groups.push(Group {
                        id: group_id,
                        name: format!("ORG{k:05} Garage {}", g + 1),
                        account: a,
                        profile: spec.plan.rights_profile(),
                        stations: Vec::new(),
                    });
                }
                let home_group = layout.groups.len() - 1;
                let index = layout.stations.len();
                layout.groups[home_group].stations.push(index);
                layout.groups[org_group].stations.push(index);
                let station = station_spec(
                    &mut rng,
                    &account,
                    config.ports_per_station,
                    (k, s + 1),
                    (a, home_group, org_group),
                    &layout.groups[home_group],
                );
                layout.stations.push(station);
            }
            account.stations = first..layout.stations.len();
            layout.accounts.push(account);
        }
        layout.station_index = layout
            .stations
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        layout.group_index = layout
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id, i))
            .collect();
        layout
    }

    /// The account with these credentials, if they match.
    pub fn authenticate(&self, username: &str, password: &str) -> Option<usize> {
        self.accounts
            .iter()
            .position(|a| a.username == username && a.password.expose() == password)
    }

    /// The station with this id, if `account` owns it.
    pub fn station_of(&self, account: usize, id: &StationId) -> Option<usize> {
        self.station_index
            .get(id)
            .copied()
            .filter(|&s| self.stations[s].account == account)
    }

    /// The station with this id, whoever owns it.
    pub fn station(&self, id: &StationId) -> Option<usize> {
        self.station_index.get(id).copied()
    }

    /// The group with this id, if `account` owns it.
    pub fn group_of(&self, account: usize, id: GroupId) -> Option<usize> {
        self.group_index
            .get(&id)
            .copied()
            .filter(|&g| self.groups[g].account == account)
    }

    /// The stations of `account`, in order.
    pub fn stations_of(&self, account: usize) -> Range<usize> {
        self.accounts[account].stations.clone()
    }

    /// One rights entry per station, with a profile per group that contains it.
    pub fn rights(&self, station: usize) -> StationRights {
        let spec = &self.stations[station];
        StationRights {
            station_id: spec.id.clone(),
            station_name: Some(spec.name.clone()),
            station_serial_num: Some(spec.serial.clone()),
            station_mac_addr: Some(spec.mac.clone()),
            profiles: spec
                .groups
                .iter()
                .map(|&g| RightsProfile {
                    group_id: Some(self.groups[g].id.to_string().into()),
                    group_name: Some(self.groups[g].name.as_str().into()),
                    profile: self.groups[g].profile.into(),
                })
                .collect(),
        }
    }
}

/// sgID of account `k`'s organisation-wide group; its station groups follow it.
fn group_base(k: usize) -> i32 {
    i32::try_from(k).unwrap_or(i32::MAX / 1000) * 1000
}

/// Builds one station's fixed facts. `number` is (account k, station n within it); `owner` is
/// (account index, home group index, organisation group index).
fn station_spec(
    rng: &mut ChaCha8Rng,
    account: &Account,
    ports: u16,
    (k, n): (usize, usize),
    (a, home_group, org_group): (usize, usize, usize),
    group: &Group,
) -> StationSpec {
    let id = StationId::new(format!("{k}:{}", k * 10_000 + n));
    let (city, state, postal, lat, long) = TOWNS[(k - 1 + n / 25) % TOWNS.len()];
    let model = if ports == 1 {
        "CT4011-GW1"
    } else {
        "CT4021-GW1"
    };
    let serial = format!(
        "1{:011}",
        rng.random_range(10_000_000_000u64..99_999_999_999)
    );
    let mac_bytes: [u16; 4] = [0x000D, 0x6F00, rng.random(), rng.random()];
    let mac = format!(
        "{:04X}:{:04X}:{:04X}:{:04X}",
        mac_bytes[0], mac_bytes[1], mac_bytes[2], mac_bytes[3]
    );
    let name = format!("SIMORG{k} / {} -{n:03}", group.name.to_uppercase());
    let street = format!("{} Simulation Way", 100 + n);
    let address = format!("{street}, {city}, {state}, {postal}, United States");
    let station_lat = lat + rng.random_range(-0.02..0.02);
    let station_long = long + rng.random_range(-0.02..0.02);
    let activation = Utc
        .with_ymd_and_hms(2019, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
        + Duration::days(rng.random_range(0..1500));
    let port_infos = (1..=ports)
        .map(|p| PortInfo {
            port: Some(PortNumber(p)),
            station_name: Some(name.clone()),
            lat: Some(format!("{:.6}", station_lat + f64::from(p) * 0.00001)),
            long: Some(format!("{station_long:.6}")),
            description: Some(format!("Level 2 port {p}, garage level {}", 1 + n % 3).into()),
            reservable: Some(0),
            status: None,
            level: Some("L2".into()),
            mode: Some("1".into()),
            connector: Some("J1772".into()),
            voltage: Some("240".into()),
            current: Some("30".into()),
            power: Some(format!("{PORT_MAX_KW:.1}").into()),
        })
        .collect();
    let info = StationInfo {
        station_id: Some(id.clone()),
        manufacturer: Some("ChargePoint".into()),
        model: Some(model.into()),
        mac_addr: Some(mac.clone()),
        serial_num: Some(serial.clone()),
        activation_date: Some(activation),
        address: Some(street),
        city: Some(city.into()),
        state: Some(state.into()),
        country: Some("United States".into()),
        postal_code: Some(postal.into()),
        ports: port_infos,
        pricing: vec![Pricing {
            kind: Some("Session".into()),
            start_time: Some("00:00:00".into()),
            end_time: Some("23:59:59".into()),
            min_price: Some(0.5),
            max_price: Some(20.0),
            initial_unit_price_duration: Some(4),
            unit_price_per_hour: Some(1.0),
            unit_price_per_hour_thereafter: Some(2.0),
            unit_price_per_session: Some(0.5),
            unit_price_per_kwh: Some(0.25),
            session_time: Some("04:00:00".into()),
        }],
        num_ports: Some(i32::from(ports)),
        main_phone: Some(format!("1-888-555-{:04}", k * 100 + n % 100).into()),
        currency_code: Some("USD".into()),
        org_id: account.org_id.as_str().into(),
        organization_name: account.org_name.as_str().into(),
        group_id: Some(group.id.to_string().into()),
        group_name: Some(group.name.as_str().into()),
    };
    StationSpec {
        id,
        account: a,
        name,
        model: model.into(),
        serial,
        mac,
        address,
        groups: vec![home_group, org_group],
        port_max_kw: vec![PORT_MAX_KW; usize::from(ports)],
        info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn station_ids_follow_the_account_numbering_scheme() {
        let layout = Layout::new(&SimFleetConfig::generate(5, 2, 2));
        let ids: Vec<&str> = layout.stations.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["1:10001", "1:10002", "1:10003", "2:20001", "2:20002"]);
        assert_eq!(layout.accounts[0].org_id, "1:ORG00001");
        assert_eq!(layout.accounts[1].plan, Plan::Restricted);
        assert_eq!(layout.authenticate("account2", "sim-password-2"), Some(1));
        assert_eq!(layout.authenticate("account2", "sim-password-1"), None);
    }

    #[test]
    fn stations_fall_into_groups_of_the_configured_size() {
        let mut config = SimFleetConfig::generate(25, 1, 1);
        config.stations_per_group = 10;
        let layout = Layout::new(&config);
        let sizes: Vec<(i32, usize)> = layout
            .groups
            .iter()
            .map(|g| (g.id.0, g.stations.len()))
            .collect();
        assert_eq!(sizes, [(1000, 25), (1001, 10), (1002, 10), (1003, 5)]);
        let rights = layout.rights(12);
        let groups: Vec<_> = rights
            .profiles
            .iter()
            .map(|p| (p.group_id.as_deref(), p.profile.as_str()))
            .collect();
        assert_eq!(
            groups,
            [
                (Some("1002"), "network_manager"),
                (Some("1000"), "org_admin")
            ]
        );
    }

    #[test]
    fn restricted_plan_is_refused_live_power_methods_only() {
        let refused: Vec<_> = ApiMethod::ALL
            .into_iter()
            .filter(|m| !Plan::Restricted.allows(*m))
            .collect();
        assert_eq!(
            refused,
            [
                ApiMethod::ShedLoad,
                ApiMethod::ClearShedState,
                ApiMethod::GetLoad
            ]
        );
    }

    #[test]
    fn configs_the_numbering_cannot_hold_are_refused_with_the_reason() {
        let mut config = SimFleetConfig::generate(2000, 2, 1);
        config.stations_per_group = 1;
        assert_eq!(
            config.validate().unwrap_err(),
            "account account1 would have 2000 station groups; at most 999 (raise stations per group)"
        );
        config.stations_per_group = 10;
        config.ports_per_station = 0;
        assert_eq!(
            config.validate().unwrap_err(),
            "ports per station must be 1..=8, got 0"
        );
    }
}

//! The ChargePoint simulator: a real SOAP 5.0 server on loopback over a simulated fleet.
//!
//! Layout:
//! - `clock`: simulated time, real-time, scaled or stepped.
//! - `layout`: accounts, plans, organisations, station groups, static station facts.
//! - `station`: one station's changing state (sessions, load, sheds, alarms).
//! - `fleet`: the whole fleet and its answer to each of the nine requests.
pub mod clock;
pub mod fleet;
pub mod layout;
mod station;

pub use clock::SimClock;
pub use fleet::{AccountRef, Fleet, PortSnapshot};
pub use layout::{AccountSpec, FleetConfig, Plan};

//! The ranges a shed's limits may take: one definition for every place that checks one (the
//! registry's Starting Values, the device API's writes, the SOAP codec and the simulator).

/// The largest allowedLoad, in kW. The most powerful chargers on ChargePoint's network
/// (Express Plus, up to 500 kW per port) with a margin of two, so a station-level cap of a
/// two-port DC station still fits. Above this a value is a typo or an attack (`1e308` was once
/// sent on as a 309-digit number), never a limit a station could apply.
pub const MAX_ALLOWED_LOAD_KW: f64 = 1000.0;

/// The most a shed can take off a port's maximum power, in percent.
pub const MAX_PERCENT_SHED: u8 = 100;

/// [`allowed_load_in_range`] in words, as an error message says what was expected.
pub const ALLOWED_LOAD_RANGE: &str = "a number of kW from 0 to 1000";

/// [`percent_shed_in_range`] in words.
pub const PERCENT_SHED_RANGE: &str = "an integer 0..=100";

/// Whether `kw` is an allowedLoad a station could apply: 0 to [`MAX_ALLOWED_LOAD_KW`] (NaN is
/// not).
pub fn allowed_load_in_range(kw: f64) -> bool {
    (0.0..=MAX_ALLOWED_LOAD_KW).contains(&kw)
}

/// Whether `pct` is a percentShed: 0 to [`MAX_PERCENT_SHED`].
pub fn percent_shed_in_range(pct: f64) -> bool {
    (0.0..=f64::from(MAX_PERCENT_SHED)).contains(&pct)
}

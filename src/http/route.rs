//! Splitting `/api/devices/{*rest}` into a device path and what is asked of it.
//!
//! Device paths contain slashes (`campus/building/unit`) and axum wildcards only match at the
//! end of a route, so every device route is one wildcard and the operation is read from the
//! right-hand end of the path:
//!
//! | path after `/api/devices/`            | operation |
//! |---|---|
//! | `{device}/points/{point}/revert`      | [`DeviceRoute::RevertPoint`] |
//! | `{device}/points/{point}`             | [`DeviceRoute::Point`] |
//! | `{device}/points`                     | [`DeviceRoute::Points`] |
//! | `{device}/scrape`                     | [`DeviceRoute::Scrape`] |
//! | `{device}/revert`                     | [`DeviceRoute::Revert`] |
//!
//! The rows are tried top to bottom, so a device whose own path ends in `points` or `scrape`
//! cannot be addressed; VOLTTRON device paths are `campus/building/unit` names, never those.

/// One device operation's address, before the HTTP method picks the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DeviceRoute {
    /// `{device}/points/{point}`: get_point or set_point.
    Point { device: String, point: String },
    /// `{device}/points`: get_multiple_points or set_multiple_points.
    Points { device: String },
    /// `{device}/points/{point}/revert`: revert_point.
    RevertPoint { device: String, point: String },
    /// `{device}/scrape`: scrape_all.
    Scrape { device: String },
    /// `{device}/revert`: revert_device.
    Revert { device: String },
}

impl DeviceRoute {
    /// Reads the wildcard tail; `None` when it names no operation or no device.
    pub(crate) fn parse(rest: &str) -> Option<DeviceRoute> {
        let segments: Vec<&str> = rest.trim_matches('/').split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return None;
        }
        let device =
            |keep: usize| -> Option<String> { (keep > 0).then(|| segments[..keep].join("/")) };
        let n = segments.len();
        match segments.as_slice() {
            [.., "points", point, "revert"] => Some(DeviceRoute::RevertPoint {
                device: device(n - 3)?,
                point: (*point).to_string(),
            }),
            [.., "points", point] => Some(DeviceRoute::Point {
                device: device(n - 2)?,
                point: (*point).to_string(),
            }),
            [.., "points"] => Some(DeviceRoute::Points {
                device: device(n - 1)?,
            }),
            [.., "scrape"] => Some(DeviceRoute::Scrape {
                device: device(n - 1)?,
            }),
            [.., "revert"] => Some(DeviceRoute::Revert {
                device: device(n - 1)?,
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(device: &str, point: &str) -> Option<DeviceRoute> {
        Some(DeviceRoute::Point {
            device: device.into(),
            point: point.into(),
        })
    }

    #[test]
    fn device_paths_keep_their_slashes() {
        assert_eq!(
            DeviceRoute::parse("campus/bldg/unit1/points/allowedLoad"),
            point("campus/bldg/unit1", "allowedLoad")
        );
        assert_eq!(
            DeviceRoute::parse("campus/bldg/unit1/points"),
            Some(DeviceRoute::Points {
                device: "campus/bldg/unit1".into()
            })
        );
        assert_eq!(
            DeviceRoute::parse("campus/bldg/unit1/points/shedState/revert"),
            Some(DeviceRoute::RevertPoint {
                device: "campus/bldg/unit1".into(),
                point: "shedState".into()
            })
        );
        assert_eq!(
            DeviceRoute::parse("campus/bldg/unit1/scrape"),
            Some(DeviceRoute::Scrape {
                device: "campus/bldg/unit1".into()
            })
        );
        assert_eq!(
            DeviceRoute::parse("campus/bldg/unit1/revert"),
            Some(DeviceRoute::Revert {
                device: "campus/bldg/unit1".into()
            })
        );
    }

    #[test]
    fn a_point_named_revert_is_still_a_point() {
        assert_eq!(
            DeviceRoute::parse("a/b/c/points/revert"),
            point("a/b/c", "revert")
        );
    }

    #[test]
    fn tails_without_a_device_or_operation_are_not_routes() {
        assert_eq!(DeviceRoute::parse("points/Status"), None);
        assert_eq!(DeviceRoute::parse("scrape"), None);
        assert_eq!(DeviceRoute::parse("campus/bldg/unit1"), None);
        assert_eq!(DeviceRoute::parse("campus//unit1/scrape"), None);
        assert_eq!(DeviceRoute::parse(""), None);
    }
}

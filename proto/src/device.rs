//! Device classes: the values of `RawEvent.device_class` and of the stored
//! `device` column, and the one rule that maps a user-agent parser's
//! category to them. The collector classifies the user agent of an
//! anonymous (STRIP) event it does not publish; the enricher classifies
//! every other event's. Both must agree, so the rule lives here, free of any
//! parser (both feed it woothee's fields).

/// A device class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// Desktop or laptop browser.
    Desktop,
    /// Phone.
    Mobile,
    /// Tablet.
    Tablet,
    /// Crawler or automation.
    Bot,
    /// Anything else (TV, console, unknown).
    Other,
}

impl Device {
    /// Every class.
    pub const ALL: [Self; 5] = [
        Self::Desktop,
        Self::Mobile,
        Self::Tablet,
        Self::Bot,
        Self::Other,
    ];

    /// The value on the wire and in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Desktop => "desktop",
            Self::Mobile => "mobile",
            Self::Tablet => "tablet",
            Self::Bot => "bot",
            Self::Other => "other",
        }
    }

    /// The class named `value`; an unknown name is [`Device::Other`].
    #[must_use]
    pub fn from_name(value: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == value)
            .unwrap_or(Self::Other)
    }

    /// The class of a user agent from its parser's `category` (woothee's:
    /// `pc`, `smartphone`, `mobilephone`, `crawler`, …) and `os`. Tablets
    /// are reported as smartphones: iPads, Android without `Mobile`
    /// (Google's rule for Android tablets), and agents that say `Tablet`.
    #[must_use]
    pub fn classify(category: &str, os: &str, user_agent: &str) -> Self {
        let tablet = || {
            os == "iPad"
                || user_agent.contains("iPad")
                || (os == "Android" && !user_agent.contains("Mobile"))
                || user_agent.contains("Tablet")
        };
        match category {
            "crawler" => Self::Bot,
            "pc" => Self::Desktop,
            "smartphone" | "mobilephone" if tablet() => Self::Tablet,
            "smartphone" | "mobilephone" => Self::Mobile,
            _ => Self::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_other() {
        for device in Device::ALL {
            assert_eq!(Device::from_name(device.as_str()), device);
        }
        assert_eq!(Device::from_name("toaster"), Device::Other);
        assert_eq!(Device::from_name(""), Device::Other);
    }

    #[test]
    fn categories_map_to_classes() {
        let cases = [
            (
                "pc",
                "Linux",
                "Mozilla/5.0 (X11; Linux x86_64)",
                Device::Desktop,
            ),
            (
                "smartphone",
                "iPhone",
                "Mozilla/5.0 (iPhone)",
                Device::Mobile,
            ),
            ("smartphone", "iPad", "Mozilla/5.0 (iPad)", Device::Tablet),
            (
                "smartphone",
                "Android",
                "Mozilla/5.0 (Linux; Android 14)",
                Device::Tablet,
            ),
            (
                "smartphone",
                "Android",
                "Mozilla/5.0 (Linux; Android 14) Mobile",
                Device::Mobile,
            ),
            ("crawler", "UNKNOWN", "Googlebot/2.1", Device::Bot),
            ("appliance", "UNKNOWN", "SmartTV", Device::Other),
        ];
        for (category, os, agent, class) in cases {
            assert_eq!(Device::classify(category, os, agent), class, "{agent}");
        }
    }
}

//! The fields a rule can name: the columns of [`AuthEvent`] (the `product: pushback`,
//! `category: mfa` log source) plus two derived ones, resolved once when a rule is
//! compiled so that matching reads a struct field instead of looking up a name.
//!
//! Derived fields (pushback's, not the vendors'):
//!
//! | field | value |
//! |---|---|
//! | `src_net24` | the network of `src_ip`: its /24 for IPv4, its /64 for IPv6, written `203.0.113.0/24` |
//! | `answer_net24` | the same for `answer_ip` |
//!
//! They exist for `group-by` and `value_count` (a spray rotating through one provider's
//! /24); in a detection, match the address itself with `src_ip|cidr`.

use std::fmt::Write as _;
use std::net::IpAddr;

use pushback_model::{AuthEvent, CompactString};

/// One field of [`AuthEvent`], or a value derived from one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Field {
    Id,
    Source,
    Kind,
    User,
    UserId,
    Session,
    SrcIp,
    SrcCountry,
    SrcCity,
    Asn,
    AnswerIp,
    AnswerCountry,
    Factor,
    Result,
    Reason,
    App,
    VendorEvent,
    RiskLevel,
    RiskDetections,
    SrcNet24,
    AnswerNet24,
}

/// How a field's value is shaped, which decides the modifiers it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Free text (`user`, `reason`, …).
    Text,
    /// One of a closed set of names (`kind`, `source`).
    Name,
    /// An IP address.
    Ip,
    /// An unsigned integer (`asn`).
    Number,
    /// A list of text values; a value matches when any element does.
    TextList,
    /// A derived network; only for grouping and counting.
    Network,
}

impl Field {
    const NAMES: [(&'static str, Field); 21] = [
        ("id", Field::Id),
        ("source", Field::Source),
        ("kind", Field::Kind),
        ("user", Field::User),
        ("user_id", Field::UserId),
        ("session", Field::Session),
        ("src_ip", Field::SrcIp),
        ("src_country", Field::SrcCountry),
        ("src_city", Field::SrcCity),
        ("asn", Field::Asn),
        ("answer_ip", Field::AnswerIp),
        ("answer_country", Field::AnswerCountry),
        ("factor", Field::Factor),
        ("result", Field::Result),
        ("reason", Field::Reason),
        ("app", Field::App),
        ("vendor_event", Field::VendorEvent),
        ("risk_level", Field::RiskLevel),
        ("risk_detections", Field::RiskDetections),
        ("src_net24", Field::SrcNet24),
        ("answer_net24", Field::AnswerNet24),
    ];

    /// The field called `name`, exactly as the field table spells it.
    pub(crate) fn parse(name: &str) -> Option<Field> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
    }

    /// Every field name, for error messages.
    pub(crate) fn known_names() -> String {
        let names: Vec<&str> = Self::NAMES.iter().map(|(n, _)| *n).collect();
        names.join(", ")
    }

    pub(crate) fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    pub(crate) fn shape(self) -> Shape {
        match self {
            Field::Source | Field::Kind => Shape::Name,
            Field::SrcIp | Field::AnswerIp => Shape::Ip,
            Field::Asn => Shape::Number,
            Field::RiskDetections => Shape::TextList,
            Field::SrcNet24 | Field::AnswerNet24 => Shape::Network,
            _ => Shape::Text,
        }
    }

    /// The value of a [`Shape::Text`] field (`None` when absent). `user`, `id` and
    /// `vendor_event` are always present but may be empty.
    #[inline]
    pub(crate) fn text(self, e: &AuthEvent) -> Option<&str> {
        let v: &Option<CompactString> = match self {
            Field::Id => return Some(&e.id),
            Field::User => return Some(&e.user),
            Field::VendorEvent => return Some(&e.vendor_event),
            Field::Source => return Some(e.source.as_str()),
            Field::Kind => return Some(e.kind.as_str()),
            Field::UserId => &e.user_id,
            Field::Session => &e.session,
            Field::SrcCountry => &e.src_country,
            Field::SrcCity => &e.src_city,
            Field::AnswerCountry => &e.answer_country,
            Field::Factor => &e.factor,
            Field::Result => &e.result,
            Field::Reason => &e.reason,
            Field::App => &e.app,
            Field::RiskLevel => &e.risk_level,
            Field::SrcIp
            | Field::AnswerIp
            | Field::Asn
            | Field::RiskDetections
            | Field::SrcNet24
            | Field::AnswerNet24 => return None,
        };
        v.as_deref()
    }

    /// The address of an IP field or of the address a network field derives from.
    #[inline]
    pub(crate) fn ip(self, e: &AuthEvent) -> Option<IpAddr> {
        match self {
            Field::SrcIp | Field::SrcNet24 => e.src_ip,
            Field::AnswerIp | Field::AnswerNet24 => e.answer_ip,
            _ => None,
        }
    }

    /// Whether the event carries this field: present and, for text, not empty.
    #[inline]
    pub(crate) fn is_present(self, e: &AuthEvent) -> bool {
        match self.shape() {
            Shape::Text => self.text(e).is_some_and(|s| !s.is_empty()),
            Shape::Name => true,
            Shape::Ip | Shape::Network => self.ip(e).is_some(),
            Shape::Number => e.asn.is_some(),
            Shape::TextList => !e.risk_detections.is_empty(),
        }
    }

    /// Appends the value as text to `out` (for group keys and distinct values);
    /// returns false, writing nothing, when the field is absent. A list is written
    /// joined by commas.
    pub(crate) fn write_value(self, e: &AuthEvent, out: &mut String) -> bool {
        if !self.is_present(e) {
            return false;
        }
        match self.shape() {
            Shape::Text | Shape::Name => out.push_str(self.text(e).unwrap_or_default()),
            Shape::Ip => {
                if let Some(ip) = self.ip(e) {
                    let _ = write!(out, "{ip}");
                }
            }
            Shape::Network => match self.ip(e) {
                Some(IpAddr::V4(v4)) => {
                    let [a, b, c, _] = v4.octets();
                    let _ = write!(out, "{a}.{b}.{c}.0/24");
                }
                Some(IpAddr::V6(v6)) => {
                    let masked = u128::from(v6) & !((1u128 << 64) - 1);
                    let _ = write!(out, "{}/64", std::net::Ipv6Addr::from(masked));
                }
                None => {}
            },
            Shape::Number => {
                if let Some(n) = e.asn {
                    let _ = write!(out, "{n}");
                }
            }
            Shape::TextList => {
                for (i, d) in e.risk_detections.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(d);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use pushback_model::{EventKind, EventSource, Timestamp};

    use super::*;

    fn event() -> AuthEvent {
        let mut e = AuthEvent::new(
            "e1",
            Timestamp::from_millis(0),
            EventSource::Duo,
            EventKind::PushDenied,
            "alice",
            "authentication",
        );
        e.src_ip = Some("203.0.113.77".parse().expect("ip"));
        e.answer_ip = Some("2001:db8:1:2:3::9".parse().expect("ip"));
        e
    }

    fn written(f: Field, e: &AuthEvent) -> Option<String> {
        let mut s = String::new();
        f.write_value(e, &mut s).then_some(s)
    }

    #[test]
    fn every_name_parses_back_to_its_field() {
        for (name, field) in Field::NAMES {
            assert_eq!(Field::parse(name), Some(field));
            assert_eq!(field.name(), name);
        }
        assert_eq!(Field::parse("User"), None, "names are exact");
        assert_eq!(Field::parse("time"), None);
    }

    #[test]
    fn derived_networks_are_the_slash_24_and_slash_64() {
        let e = event();
        assert_eq!(
            written(Field::SrcNet24, &e).as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            written(Field::AnswerNet24, &e).as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(written(Field::SrcIp, &e).as_deref(), Some("203.0.113.77"));
        assert_eq!(written(Field::Kind, &e).as_deref(), Some("push_denied"));
    }

    #[test]
    fn absent_and_empty_fields_are_not_present() {
        let mut e = event();
        assert_eq!(written(Field::Session, &e), None);
        e.session = Some("".into());
        assert_eq!(written(Field::Session, &e), None);
        assert!(!Field::RiskDetections.is_present(&e));
        e.risk_detections = vec![Box::from("A"), Box::from("B")].into_boxed_slice();
        assert_eq!(written(Field::RiskDetections, &e).as_deref(), Some("A,B"));
    }
}

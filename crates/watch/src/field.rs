//! Lenient field decoding shared by the normalisers: text that borrows from the record
//! when it can, and tolerates the wrong JSON type instead of failing the whole record.
//!
//! Vendor logs disagree with their own documentation often enough (a number where a
//! string was documented, `null`, an object where a string was expected) that every
//! optional text field is read as a [`Text`]: a string borrowed from the input when it
//! has no escapes, a number written out as digits, and anything else as absent.

use std::borrow::Cow;
use std::fmt;

use pushback_model::CompactString;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// An optional text value read leniently (see the module documentation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub(crate) Option<Cow<'a, str>>);

impl<'a> Text<'a> {
    /// The text, if present and not empty.
    pub(crate) fn get(&self) -> Option<&str> {
        match self.0.as_deref() {
            Some("") | None => None,
            some => some,
        }
    }

    /// The text as an owned event string, if present and not empty.
    pub(crate) fn owned(&self) -> Option<CompactString> {
        self.get().map(CompactString::from)
    }
}

impl<'de: 'a, 'a> de::Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Borrowed(v))))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_owned()))))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v))))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Owned(v.to_string()))))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Text(Some(Cow::Borrowed(if v { "true" } else { "false" }))))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Text(None))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text(None))
    }
}

/// A non-negative integer read leniently: a JSON number or a string of digits; anything
/// else is absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Number(pub(crate) Option<i64>);

impl<'de> de::Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Text::deserialize(d)?;
        Ok(Number(
            text.get().and_then(|s| s.trim().parse::<i64>().ok()),
        ))
    }
}

/// A list of texts read leniently: an array of [`Text`]s (absent ones dropped), an array
/// written as JSON text, or absent. Items are owned: lists are rare here (risk
/// detections) and short.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TextList(pub(crate) Vec<Box<str>>);

impl<'de> de::Deserialize<'de> for TextList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextListVisitor)
    }
}

struct TextListVisitor;

impl<'de> Visitor<'de> for TextListVisitor {
    type Value = TextList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element::<Text<'de>>()? {
            if let Some(s) = item.get() {
                out.push(Box::from(s));
            }
        }
        Ok(TextList(out))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // Log Analytics writes dynamic columns as JSON text.
        Ok(serde_json::from_str::<TextList>(v).unwrap_or_default())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextList::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(TextList::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(TextList::default())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(TextList::default())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(TextList::default())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(TextList::default())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(TextList::default())
    }
}

/// Whether `haystack` contains `needle`, ignoring ASCII case, without allocating.
/// `needle` must be lower case.
pub(crate) fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Adds `name` to `list` unless it is already there (detector names repeat across
/// Duo's two risk structures).
pub(crate) fn push_unique(list: &mut Vec<Box<str>>, name: &str) {
    if !name.is_empty() && !list.iter().any(|n| &**n == name) {
        list.push(Box::from(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        a: Text<'a>,
        #[serde(default)]
        n: Number,
        #[serde(default)]
        l: TextList,
    }

    #[test]
    fn text_borrows_plain_strings_and_tolerates_other_types() {
        let json = r#"{"a":"plain","n":"701","l":["X",null,{"o":1},"Y"]}"#;
        let p: Probe<'_> = serde_json::from_str(json).expect("parses");
        assert!(matches!(p.a.0, Some(Cow::Borrowed("plain"))));
        assert_eq!(p.n, Number(Some(701)));
        assert_eq!(p.l.0, vec![Box::from("X"), Box::from("Y")]);

        let p: Probe<'_> = serde_json::from_str(r#"{"a":"esc\"aped","n":12}"#).expect("parses");
        assert_eq!(p.a.get(), Some("esc\"aped"));
        assert_eq!(p.n, Number(Some(12)));

        for odd in [
            r#"{"a":null}"#,
            r#"{"a":{"x":[1]}}"#,
            r#"{"a":[1,2]}"#,
            r#"{"a":""}"#,
        ] {
            let p: Probe<'_> = serde_json::from_str(odd).expect("parses");
            assert_eq!(p.a.get(), None, "{odd}");
        }
        let p: Probe<'_> = serde_json::from_str(r#"{"a":42,"l":"[\"Z\"]"}"#).expect("parses");
        assert_eq!(p.a.get(), Some("42"));
        assert_eq!(p.l.0, vec![Box::from("Z")]);
    }

    #[test]
    fn case_insensitive_search() {
        assert!(contains_ignore_case(
            "MFA Denied; user DECLINED",
            "declined"
        ));
        assert!(!contains_ignore_case(
            "MFA successfully completed",
            "denied"
        ));
        assert!(contains_ignore_case("x", ""));
        assert!(!contains_ignore_case("", "x"));
    }
}

//! The `correlation` section of a Sigma correlation rule (specification 2.0): what is
//! counted, grouped by what, over how long, and when it fires. The windows that evaluate
//! it live in [`crate::engine`].
//!
//! Supported: `type` `event_count`, `value_count` (with `condition.field`), `temporal`
//! and `temporal_ordered`; `rules` by name or id, including other correlation rules
//! (chains); `group-by` (any fields of the log source, derived ones included; an event
//! without one of them takes no part); `timespan` as `<number><s|m|h|d>`; `condition`
//! with `gt`, `gte`, `lt`, `lte`, `eq` (several at once form a range); `generate`.
//! Refused: `aliases` (one log source needs none), any other key.
//!
//! How a condition is evaluated on a stream:
//!
//! - Lower bounds only (`gte: 5`, `gt: 10`): a sliding window per group. The rule fires
//!   at the event that makes the condition true, with the events of the window.
//! - Any upper bound (`lt`, `lte`, `eq`, a range): "at most N" can only be judged when a
//!   window is complete, so the window opens at a group's first event, closes `timespan`
//!   later, and the count is judged then (or at the end of input).
//! - `temporal`: the count is how many of the referenced rules matched within the
//!   timespan (default: all of them; only lower bounds). `temporal_ordered`: all of them,
//!   each after the previous, the whole chain within the timespan.

use serde_norway::{Mapping, Value};

use super::Problem;
use super::field::Field;

/// The largest lower bound an `event_count` window may wait for; the window holds this
/// many timestamps per group.
pub(crate) const MAX_EVENT_THRESHOLD: u64 = 10_000;
/// The largest bound a `value_count` may name; the window holds this many values.
pub(crate) const MAX_VALUE_THRESHOLD: u64 = 1_000;

/// What a correlation counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counting {
    Events,
    Values(Field),
    Temporal,
    TemporalOrdered,
}

/// When the count satisfies the condition: `low..=high`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub(crate) low: u64,
    pub(crate) high: Option<u64>,
}

impl Bounds {
    pub(crate) fn holds(self, n: u64) -> bool {
        n >= self.low && self.high.is_none_or(|h| n <= h)
    }
}

/// A parsed correlation section, its references not yet resolved.
#[derive(Clone, Debug)]
pub(crate) struct CorrelationDef {
    pub(crate) counting: Counting,
    /// The `rules` entries as written (names or ids).
    pub(crate) references: Vec<String>,
    pub(crate) group_by: Vec<Field>,
    pub(crate) span_ms: i64,
    pub(crate) bounds: Bounds,
    pub(crate) generate: bool,
}

impl CorrelationDef {
    /// Whether the window fires at the crossing event (lower bounds only) rather than
    /// when it closes.
    pub(crate) fn fires_on_crossing(&self) -> bool {
        self.bounds.high.is_none()
    }
}

/// Parses a `timespan` such as `30s`, `10m`, `1h`, `2d`.
pub(crate) fn parse_timespan(s: &str) -> Option<i64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s[..s.len() - unit.len_utf8()].parse().ok()?;
    let ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    (n > 0).then(|| n.checked_mul(ms)).flatten()
}

/// Parses a `correlation` section; `generate` may also come from the document's top
/// level.
pub(crate) fn parse(
    section: &Value,
    top_generate: Option<bool>,
) -> Result<CorrelationDef, Problem> {
    let Value::Mapping(map) = section else {
        return Err(Problem::invalid("`correlation` must be a map"));
    };
    let mut kind = None;
    let mut references = Vec::new();
    let mut group_by = Vec::new();
    let mut span_ms = None;
    let mut condition = None;
    let mut generate = top_generate;
    for (k, v) in map {
        let key = k
            .as_str()
            .ok_or_else(|| Problem::invalid("a `correlation` key is not a string"))?;
        match key {
            "type" => {
                kind = Some(
                    v.as_str()
                        .ok_or_else(|| Problem::invalid("`type` must be a string"))?,
                )
            }
            "rules" => references = string_list(v, "rules")?,
            "group-by" => {
                for name in string_list(v, "group-by")? {
                    group_by.push(field(&name)?);
                }
            }
            "timespan" => {
                let text = match v {
                    Value::String(s) => s.clone(),
                    _ => {
                        return Err(Problem::invalid(
                            "`timespan` must be a string such as `10m`",
                        ));
                    }
                };
                span_ms = Some(parse_timespan(&text).ok_or_else(|| {
                    Problem::Invalid(format!(
                        "`timespan: {text}` is not a positive number followed by s, m, h or d"
                    ))
                })?);
            }
            "condition" => condition = Some(v),
            "generate" => {
                generate = Some(
                    v.as_bool()
                        .ok_or_else(|| Problem::invalid("`generate` must be true or false"))?,
                );
            }
            "aliases" => {
                return Err(Problem::unsupported(
                    "correlation `aliases` (every pushback rule reads one log source with one \
                     set of field names)",
                ));
            }
            other => {
                return Err(Problem::Unsupported(format!(
                    "correlation attribute `{other}`"
                )));
            }
        }
    }
    let kind = kind.ok_or_else(|| Problem::invalid("`correlation` has no `type`"))?;
    if references.is_empty() {
        return Err(Problem::invalid("`correlation` names no `rules`"));
    }
    let span_ms = span_ms.ok_or_else(|| Problem::invalid("`correlation` has no `timespan`"))?;
    let (counting, bounds) = match kind {
        "event_count" => {
            let (field, bounds) = condition_of(condition, false)?;
            if field.is_some() {
                return Err(Problem::invalid(
                    "`condition.field` belongs to `value_count`",
                ));
            }
            if bounds.low > MAX_EVENT_THRESHOLD
                || bounds.high.is_some_and(|h| h > MAX_EVENT_THRESHOLD)
            {
                return Err(Problem::Unsupported(format!(
                    "an `event_count` bound above {MAX_EVENT_THRESHOLD}"
                )));
            }
            (Counting::Events, bounds)
        }
        "value_count" => {
            let (field, bounds) = condition_of(condition, true)?;
            let field = field.ok_or_else(|| {
                Problem::invalid(
                    "a `value_count` condition needs `field`, the field whose values are counted",
                )
            })?;
            if bounds.low > MAX_VALUE_THRESHOLD
                || bounds.high.is_some_and(|h| h > MAX_VALUE_THRESHOLD)
            {
                return Err(Problem::Unsupported(format!(
                    "a `value_count` bound above {MAX_VALUE_THRESHOLD}"
                )));
            }
            (Counting::Values(field), bounds)
        }
        "temporal" | "temporal_ordered" => {
            let n = u64::try_from(references.len()).unwrap_or(u64::MAX);
            let bounds = match condition {
                None => Bounds { low: n, high: None },
                Some(c) => {
                    let (field, b) = condition_of(Some(c), false)?;
                    if field.is_some() {
                        return Err(Problem::invalid(
                            "`condition.field` belongs to `value_count`",
                        ));
                    }
                    if b.high.is_some() {
                        return Err(Problem::unsupported(
                            "an upper bound (`lt`, `lte`, `eq`) on a temporal correlation",
                        ));
                    }
                    if b.low > n {
                        return Err(Problem::Invalid(format!(
                            "the condition asks for {} rules but only {n} are listed",
                            b.low
                        )));
                    }
                    b
                }
            };
            if kind == "temporal_ordered" {
                if bounds.low != n {
                    return Err(Problem::unsupported(
                        "a `temporal_ordered` condition other than all of its rules",
                    ));
                }
                (Counting::TemporalOrdered, bounds)
            } else {
                (Counting::Temporal, bounds)
            }
        }
        other => return Err(Problem::Unsupported(format!("correlation type `{other}`"))),
    };
    Ok(CorrelationDef {
        counting,
        references,
        group_by,
        span_ms,
        bounds,
        generate: generate.unwrap_or(false),
    })
}

fn field(name: &str) -> Result<Field, Problem> {
    Field::parse(name).ok_or_else(|| {
        Problem::Invalid(format!(
            "unknown field `{name}` (the pushback/mfa fields are: {})",
            Field::known_names()
        ))
    })
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, Problem> {
    let items: Vec<&Value> = match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::String(_) => vec![v],
        _ => {
            return Err(Problem::Invalid(format!(
                "`{what}` must be a list of strings"
            )));
        }
    };
    items
        .into_iter()
        .map(|i| {
            i.as_str()
                .map(str::to_owned)
                .ok_or_else(|| Problem::Invalid(format!("`{what}` must be a list of strings")))
        })
        .collect()
}

fn condition_of(c: Option<&Value>, with_field: bool) -> Result<(Option<Field>, Bounds), Problem> {
    let Some(Value::Mapping(map)) = c else {
        return Err(Problem::invalid(
            "`condition` must be a map such as `gte: 5`",
        ));
    };
    bounds_of(map, with_field)
}

fn bounds_of(map: &Mapping, with_field: bool) -> Result<(Option<Field>, Bounds), Problem> {
    let mut low: u64 = 1;
    let mut high: Option<u64> = None;
    let mut field_name = None;
    let mut any = false;
    for (k, v) in map {
        let key = k.as_str().unwrap_or_default();
        if key == "field" && with_field {
            field_name = Some(field(v.as_str().ok_or_else(|| {
                Problem::invalid("`condition.field` must be a field name")
            })?)?);
            continue;
        }
        let n = v
            .as_u64()
            .ok_or_else(|| Problem::Invalid(format!("`condition.{key}` must be a whole number")))?;
        any = true;
        match key {
            "gte" => low = low.max(n),
            "gt" => low = low.max(n.saturating_add(1)),
            "lte" => high = Some(high.map_or(n, |h| h.min(n))),
            "lt" => {
                let h = n
                    .checked_sub(1)
                    .ok_or_else(|| Problem::invalid("`lt: 0` can never hold"))?;
                high = Some(high.map_or(h, |x| x.min(h)));
            }
            "eq" => {
                low = low.max(n);
                high = Some(high.map_or(n, |h| h.min(n)));
            }
            other => {
                return Err(Problem::Unsupported(format!(
                    "condition operator `{other}`"
                )));
            }
        }
    }
    if !any {
        return Err(Problem::invalid(
            "`condition` has no `gt`, `gte`, `lt`, `lte` or `eq`",
        ));
    }
    if high.is_some_and(|h| h < low) {
        return Err(Problem::invalid("the condition's range is empty"));
    }
    Ok((field_name, Bounds { low, high }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(s: &str) -> Result<CorrelationDef, Problem> {
        parse(&serde_norway::from_str(s).expect("yaml"), None)
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("30s"), Some(30_000));
        assert_eq!(parse_timespan("10m"), Some(600_000));
        assert_eq!(parse_timespan("1h"), Some(3_600_000));
        assert_eq!(parse_timespan("2d"), Some(172_800_000));
        for bad in ["", "m", "10", "10M", "0m", "-5m", "1w", "1.5h"] {
            assert_eq!(parse_timespan(bad), None, "{bad}");
        }
    }

    #[test]
    fn event_count_with_a_lower_bound_fires_on_crossing() {
        let d = def(
            "type: event_count\nrules: [a]\ngroup-by: [user]\ntimespan: 10m\ncondition: {gte: 5}",
        )
        .expect("parses");
        assert_eq!(d.counting, Counting::Events);
        assert_eq!(d.group_by, [Field::User]);
        assert_eq!(d.bounds, Bounds { low: 5, high: None });
        assert!(d.fires_on_crossing());
        assert!(!d.generate);
    }

    #[test]
    fn operators_make_ranges() {
        let b = |c: &str| {
            def(&format!(
                "type: event_count\nrules: [a]\ntimespan: 1h\ncondition: {c}"
            ))
            .map(|d| d.bounds)
        };
        assert_eq!(
            b("{gt: 10}").expect("ok"),
            Bounds {
                low: 11,
                high: None
            }
        );
        assert_eq!(
            b("{lt: 3}").expect("ok"),
            Bounds {
                low: 1,
                high: Some(2)
            }
        );
        assert_eq!(
            b("{eq: 4}").expect("ok"),
            Bounds {
                low: 4,
                high: Some(4)
            }
        );
        assert_eq!(
            b("{gt: 100, lte: 200}").expect("ok"),
            Bounds {
                low: 101,
                high: Some(200)
            }
        );
        assert!(b("{gt: 5, lt: 3}").is_err());
        assert!(b("{lt: 0}").is_err());
        assert!(
            b("{between: 3}")
                .expect_err("refused")
                .to_string()
                .contains("`between`")
        );
        assert!(b("{gte: 20000}").is_err(), "bounded window memory");
    }

    #[test]
    fn value_count_needs_its_field() {
        let d = def("type: value_count\nrules: [a]\ngroup-by: [src_ip]\ntimespan: 10m\ncondition: {field: user, gte: 5}")
            .expect("parses");
        assert_eq!(d.counting, Counting::Values(Field::User));
        assert!(def("type: value_count\nrules: [a]\ntimespan: 10m\ncondition: {gte: 5}").is_err());
    }

    #[test]
    fn temporal_defaults_to_all_rules_and_ordered_demands_it() {
        let d = def("type: temporal_ordered\nrules: [a, b]\ngroup-by: [user]\ntimespan: 10m")
            .expect("parses");
        assert_eq!(d.counting, Counting::TemporalOrdered);
        assert_eq!(d.bounds.low, 2);
        let d = def("type: temporal\nrules: [a, b, c]\ntimespan: 10m\ncondition: {gte: 2}")
            .expect("parses");
        assert_eq!(d.bounds.low, 2);
        assert!(
            def("type: temporal_ordered\nrules: [a, b]\ntimespan: 10m\ncondition: {gte: 1}")
                .is_err()
        );
        assert!(def("type: temporal\nrules: [a]\ntimespan: 10m\ncondition: {gte: 2}").is_err());
    }

    #[test]
    fn unknown_types_and_aliases_are_refused_by_name() {
        for (text, what) in [
            (
                "type: value_sum\nrules: [a]\ntimespan: 1m\ncondition: {gte: 1}",
                "type `value_sum`",
            ),
            (
                "type: event_count\nrules: [a]\ntimespan: 1m\ncondition: {gte: 1}\naliases: {x: {a: user}}",
                "aliases",
            ),
            (
                "type: event_count\nrules: [a]\ntimespan: 1m\ncondition: {gte: 1}\nwindow: sliding",
                "attribute `window`",
            ),
        ] {
            let err = def(text).expect_err(text);
            assert!(matches!(err, Problem::Unsupported(_)), "{err}");
            assert!(err.to_string().contains(what), "{err}");
        }
        assert!(def("type: event_count\nrules: [a]\ngroup-by: [hostname]\ntimespan: 1m\ncondition: {gte: 1}")
            .expect_err("unknown field")
            .to_string()
            .contains("unknown field `hostname`"));
    }
}

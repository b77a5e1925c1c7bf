//! The `detection` section of a Sigma rule, compiled once into tests over typed
//! [`Field`]s, and matched against events without allocating.
//!
//! What compiles (everything else is refused with the construct named):
//!
//! - A selection is a map (every item must match) or a list of maps (any map must match).
//!   An item is `field|modifier|…: value` or a list of values (any value matches; with
//!   `|all`, every value must). Keyword selections (bare lists of strings searched in
//!   every field) are refused: name a field.
//! - Plain values compare without regard to case (Unicode lower-casing, needles lowered
//!   at compile time) and honour Sigma's wildcards: `*` any run, `?` one character, `\`
//!   escapes `*`, `?` and `\`.
//! - Modifiers: `contains`, `startswith`, `endswith`, `all`, `cased` (compare case
//!   exactly), `re` (the `regex` crate's syntax, case-sensitive unless `re|i`; also
//!   `re|m`, `re|s`), `cidr` (on `src_ip`, `answer_ip`), `exists` (`true`/`false`),
//!   `fieldref` (the field equals another field of the same event; pushback uses it to
//!   compare `src_country` with `answer_country`).
//! - `null` matches a field that is absent (or an empty string).
//! - `kind` and `source` take the names of [`EventKind`] and [`EventSource`]; a name that
//!   is not one of them is refused (a typo would otherwise never match). They compile to
//!   bit sets, which also tell the engine which kinds a rule can match at all.

use std::net::IpAddr;

use pushback_model::{AuthEvent, EventKind, EventSource};
use regex::Regex;
use serde_norway::Value;

use super::Problem;
use super::condition::{self, Expr, Target};
use super::field::{Field, Shape};

/// A set of [`EventKind`]s, one bit per kind (in [`EventKind::ALL`] order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KindSet(u16);

impl KindSet {
    pub(crate) const ALL: KindSet = KindSet((1 << EventKind::ALL.len()) - 1);
    pub(crate) const NONE: KindSet = KindSet(0);

    pub(crate) fn bit(kind: EventKind) -> u16 {
        1 << (kind as u16)
    }

    pub(crate) fn contains(self, kind: EventKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    fn and(self, other: KindSet) -> KindSet {
        KindSet(self.0 & other.0)
    }

    fn or(self, other: KindSet) -> KindSet {
        KindSet(self.0 | other.0)
    }
}

/// A compiled `detection` section.
#[derive(Clone, Debug)]
pub(crate) struct Detection {
    selections: Vec<Selection>,
    condition: Cond,
    /// The kinds an event must have for the condition to possibly hold.
    pub(crate) kinds: KindSet,
}

/// Any of these alternatives, each a list of tests that must all hold.
#[derive(Clone, Debug)]
struct Selection {
    alternatives: Vec<Vec<Test>>,
}

#[derive(Clone, Debug)]
enum Cond {
    Selection(usize),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

#[derive(Clone, Debug)]
enum Test {
    Kind(KindSet),
    Source(u8),
    Text {
        field: Field,
        patterns: Vec<Pattern>,
        all: bool,
    },
    /// `risk_detections`: a pattern holds when any element matches it (or, for `null`,
    /// when the list is empty).
    List {
        patterns: Vec<Pattern>,
        all: bool,
    },
    Ip {
        field: Field,
        networks: Vec<Option<Network>>,
        all: bool,
    },
    Number {
        field: Field,
        values: Vec<Option<u64>>,
    },
    Exists {
        field: Field,
        present: bool,
    },
    SameAs {
        field: Field,
        other: Field,
        cased: bool,
    },
}

/// One text pattern. Needles are lower-cased at compile time unless `cased`.
#[derive(Clone, Debug)]
enum Pattern {
    /// The field is absent or empty.
    Null,
    /// Any present value (`*`).
    Any,
    Exact(Box<str>, bool),
    Prefix(Box<str>, bool),
    Suffix(Box<str>, bool),
    Contains(Box<str>, bool),
    Regex(Regex),
}

#[derive(Clone, Copy, Debug)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    fn contains(self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Detection {
    /// Whether `e` satisfies the condition.
    #[inline]
    pub(crate) fn matches(&self, e: &AuthEvent) -> bool {
        self.eval(&self.condition, e)
    }

    fn eval(&self, c: &Cond, e: &AuthEvent) -> bool {
        match c {
            Cond::Selection(i) => self.selections[*i]
                .alternatives
                .iter()
                .any(|tests| tests.iter().all(|t| t.holds(e))),
            Cond::Not(inner) => !self.eval(inner, e),
            Cond::And(parts) => parts.iter().all(|p| self.eval(p, e)),
            Cond::Or(parts) => parts.iter().any(|p| self.eval(p, e)),
        }
    }
}

impl Test {
    #[inline]
    fn holds(&self, e: &AuthEvent) -> bool {
        match self {
            Test::Kind(set) => set.contains(e.kind),
            Test::Source(bits) => bits & (1 << (e.source as u8)) != 0,
            Test::Text {
                field,
                patterns,
                all,
            } => {
                let value = field.text(e).filter(|s| !s.is_empty());
                let one = |p: &Pattern| p.matches(value);
                if *all {
                    patterns.iter().all(one)
                } else {
                    patterns.iter().any(one)
                }
            }
            Test::List { patterns, all } => {
                let one = |p: &Pattern| match p {
                    Pattern::Null => e.risk_detections.is_empty(),
                    _ => e.risk_detections.iter().any(|d| p.matches(Some(d))),
                };
                if *all {
                    patterns.iter().all(one)
                } else {
                    patterns.iter().any(one)
                }
            }
            Test::Ip {
                field,
                networks,
                all,
            } => {
                let ip = field.ip(e);
                let one = |n: &Option<Network>| match (n, ip) {
                    (None, None) => true,
                    (Some(n), Some(ip)) => n.contains(ip),
                    _ => false,
                };
                if *all {
                    networks.iter().all(one)
                } else {
                    networks.iter().any(one)
                }
            }
            Test::Number { field, values } => {
                let v = match field {
                    Field::Asn => e.asn.map(u64::from),
                    _ => None,
                };
                values.contains(&v)
            }
            Test::Exists { field, present } => field.is_present(e) == *present,
            Test::SameAs {
                field,
                other,
                cased,
            } => match field.shape() {
                Shape::Ip => match (field.ip(e), other.ip(e)) {
                    (Some(a), Some(b)) => unmap(a) == unmap(b),
                    _ => false,
                },
                Shape::Number => e.asn.is_some() && field == other,
                _ => match (field.text(e), other.text(e)) {
                    (Some(a), Some(b)) if !a.is_empty() && !b.is_empty() => {
                        if *cased {
                            a == b
                        } else {
                            a.chars()
                                .flat_map(char::to_lowercase)
                                .eq(b.chars().flat_map(char::to_lowercase))
                        }
                    }
                    _ => false,
                },
            },
        }
    }
}

impl Pattern {
    #[inline]
    fn matches(&self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            return matches!(self, Pattern::Null);
        };
        match self {
            Pattern::Null => false,
            Pattern::Any => true,
            Pattern::Exact(n, cased) => {
                if *cased {
                    v == &**n
                } else {
                    fold_eq(v, n)
                }
            }
            Pattern::Prefix(n, cased) => {
                if *cased {
                    v.starts_with(&**n)
                } else {
                    fold_prefix(v, n)
                }
            }
            Pattern::Suffix(n, cased) => {
                if *cased {
                    v.ends_with(&**n)
                } else {
                    fold_suffix(v, n)
                }
            }
            Pattern::Contains(n, cased) => {
                if *cased {
                    v.contains(&**n)
                } else {
                    fold_contains(v, n)
                }
            }
            Pattern::Regex(re) => re.is_match(v),
        }
    }
}

// Case-insensitive comparisons against a needle that is already lower case. ASCII
// haystacks (nearly all of them) compare byte by byte; others lower-case character by
// character through iterators, so nothing is allocated either way.

fn fold_eq(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        hay.len() == needle.len() && hay.as_bytes().eq_ignore_ascii_case(needle.as_bytes())
    } else {
        hay.chars().flat_map(char::to_lowercase).eq(needle.chars())
    }
}

fn fold_prefix(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        hay.len() >= needle.len()
            && hay.as_bytes()[..needle.len()].eq_ignore_ascii_case(needle.as_bytes())
    } else {
        let mut h = hay.chars().flat_map(char::to_lowercase);
        needle.chars().all(|c| h.next() == Some(c))
    }
}

fn fold_suffix(hay: &str, needle: &str) -> bool {
    if hay.is_ascii() {
        hay.len() >= needle.len()
            && hay.as_bytes()[hay.len() - needle.len()..].eq_ignore_ascii_case(needle.as_bytes())
    } else {
        let mut h = hay.chars().rev().flat_map(|c| c.to_lowercase().rev());
        needle.chars().rev().all(|c| h.next() == Some(c))
    }
}

fn fold_contains(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.is_ascii() {
        hay.len() >= needle.len()
            && hay
                .as_bytes()
                .windows(needle.len())
                .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
    } else {
        hay.char_indices()
            .any(|(i, _)| fold_prefix(&hay[i..], needle))
    }
}

// ---------------------------------------------------------------------------------------
// Compiling

/// Compiles a rule's `detection` mapping.
pub(crate) fn compile(detection: &Value) -> Result<Detection, Problem> {
    let Value::Mapping(map) = detection else {
        return Err(Problem::invalid("`detection` must be a map"));
    };
    let mut names: Vec<String> = Vec::new();
    let mut selections = Vec::new();
    let mut condition: Option<&Value> = None;
    for (k, v) in map {
        let Some(name) = k.as_str() else {
            return Err(Problem::invalid("a `detection` key is not a string"));
        };
        match name {
            "condition" => condition = Some(v),
            "timeframe" => {
                return Err(Problem::unsupported(
                    "`timeframe` in `detection` (pre-2.0 aggregation); write a correlation \
                     rule with `timespan`",
                ));
            }
            _ => {
                selections.push(
                    compile_selection(v).map_err(|p| p.within(&format!("selection `{name}`")))?,
                );
                names.push(name.to_owned());
            }
        }
    }
    let condition = condition.ok_or_else(|| Problem::invalid("`detection` has no `condition`"))?;
    let expr = match condition {
        Value::String(s) => parse_condition(s)?,
        Value::Sequence(list) if !list.is_empty() => {
            // A list of conditions: any of them (Sigma 1.0 form).
            let mut parts = Vec::new();
            for c in list {
                let s = c
                    .as_str()
                    .ok_or_else(|| Problem::invalid("a `condition` list item is not a string"))?;
                parts.push(parse_condition(s)?);
            }
            Expr::Or(parts)
        }
        _ => return Err(Problem::invalid("`condition` must be a string")),
    };
    let condition = resolve(&expr, &names)?;
    let kinds = kinds_of(&condition, &selections);
    Ok(Detection {
        selections,
        condition,
        kinds,
    })
}

fn parse_condition(s: &str) -> Result<Expr, Problem> {
    condition::parse(s).map_err(|e| {
        if e.0.contains("not supported") {
            Problem::Unsupported(format!("condition `{s}`: {e}"))
        } else {
            Problem::Invalid(format!("condition `{s}`: {e}"))
        }
    })
}

fn resolve(expr: &Expr, names: &[String]) -> Result<Cond, Problem> {
    let matching = |t: &Target| -> Result<Vec<Cond>, Problem> {
        let found: Vec<Cond> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| match t {
                Target::Them => !n.starts_with('_'),
                Target::Pattern(p) => condition::glob_matches(p, n),
            })
            .map(|(i, _)| Cond::Selection(i))
            .collect();
        if found.is_empty() {
            let what = match t {
                Target::Them => "`them`".to_owned(),
                Target::Pattern(p) => format!("`{p}`"),
            };
            return Err(Problem::invalid(&format!(
                "the condition's {what} names no selection"
            )));
        }
        Ok(found)
    };
    Ok(match expr {
        Expr::Name(n) => match names.iter().position(|x| x == n) {
            Some(i) => Cond::Selection(i),
            None => {
                return Err(Problem::invalid(&format!(
                    "the condition names `{n}`, which is not a selection of this rule"
                )));
            }
        },
        Expr::AnyOf(t) => Cond::Or(matching(t)?),
        Expr::AllOf(t) => Cond::And(matching(t)?),
        Expr::Not(inner) => Cond::Not(Box::new(resolve(inner, names)?)),
        Expr::And(parts) => Cond::And(
            parts
                .iter()
                .map(|p| resolve(p, names))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Or(parts) => Cond::Or(
            parts
                .iter()
                .map(|p| resolve(p, names))
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// The kinds an event can have and still satisfy `c` (conservative: `not` says any).
fn kinds_of(c: &Cond, selections: &[Selection]) -> KindSet {
    match c {
        Cond::Selection(i) => selections[*i]
            .alternatives
            .iter()
            .map(|tests| {
                tests.iter().fold(KindSet::ALL, |acc, t| match t {
                    Test::Kind(set) => acc.and(*set),
                    _ => acc,
                })
            })
            .fold(KindSet::NONE, KindSet::or),
        Cond::Not(_) => KindSet::ALL,
        Cond::And(parts) => parts
            .iter()
            .fold(KindSet::ALL, |acc, p| acc.and(kinds_of(p, selections))),
        Cond::Or(parts) => parts
            .iter()
            .fold(KindSet::NONE, |acc, p| acc.or(kinds_of(p, selections))),
    }
}

fn compile_selection(v: &Value) -> Result<Selection, Problem> {
    match v {
        Value::Mapping(_) => Ok(Selection {
            alternatives: vec![compile_map(v)?],
        }),
        Value::Sequence(items) if items.iter().all(Value::is_mapping) && !items.is_empty() => {
            Ok(Selection {
                alternatives: items.iter().map(compile_map).collect::<Result<_, _>>()?,
            })
        }
        Value::Sequence(_) | Value::String(_) | Value::Number(_) => Err(Problem::unsupported(
            "keyword search (values without a field); name the field to match",
        )),
        _ => Err(Problem::invalid(
            "a selection must be a map of fields or a list of such maps",
        )),
    }
}

fn compile_map(v: &Value) -> Result<Vec<Test>, Problem> {
    let Value::Mapping(map) = v else {
        return Err(Problem::invalid("expected a map of fields"));
    };
    if map.is_empty() {
        return Err(Problem::invalid("a selection map is empty"));
    }
    let mut tests = Vec::new();
    for (k, value) in map {
        let key = k
            .as_str()
            .ok_or_else(|| Problem::invalid("a field name is not a string"))?;
        tests.push(compile_item(key, value).map_err(|p| p.within(&format!("`{key}`")))?);
    }
    Ok(tests)
}

/// The modifiers of one item, as parsed from `field|a|b`.
#[derive(Default)]
struct Modifiers {
    contains: bool,
    startswith: bool,
    endswith: bool,
    all: bool,
    cased: bool,
    re: bool,
    re_flags: String,
    cidr: bool,
    exists: bool,
    fieldref: bool,
}

impl Modifiers {
    fn parse(names: &[&str]) -> Result<Modifiers, Problem> {
        let mut m = Modifiers::default();
        for (i, name) in names.iter().enumerate() {
            match *name {
                "contains" => m.contains = true,
                "startswith" => m.startswith = true,
                "endswith" => m.endswith = true,
                "all" => m.all = true,
                "cased" => m.cased = true,
                "re" => m.re = true,
                "i" | "m" | "s" if i > 0 && m.re => m.re_flags.push_str(name),
                "cidr" => m.cidr = true,
                "exists" => m.exists = true,
                "fieldref" => m.fieldref = true,
                other => {
                    return Err(Problem::Unsupported(format!("modifier `{other}`")));
                }
            }
        }
        let shape_mods = [m.contains, m.startswith, m.endswith, m.re, m.cidr, m.exists]
            .iter()
            .filter(|b| **b)
            .count();
        if shape_mods > 1 {
            return Err(Problem::invalid(
                "at most one of `contains`, `startswith`, `endswith`, `re`, `cidr`, `exists` \
                 per field",
            ));
        }
        if m.fieldref && (shape_mods > 0 || m.all) {
            return Err(Problem::unsupported(
                "`fieldref` combined with another modifier (pushback compares fields for \
                 equality only)",
            ));
        }
        Ok(m)
    }

    fn text_only(&self) -> bool {
        self.contains || self.startswith || self.endswith || self.re || self.cased
    }
}

/// A scalar value of an item, as text (`None` for YAML `null`).
fn scalars(v: &Value) -> Result<Vec<Option<String>>, Problem> {
    let one = |v: &Value| -> Result<Option<String>, Problem> {
        Ok(match v {
            Value::Null => None,
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => return Err(Problem::invalid("a value must be a string, number or null")),
        })
    };
    match v {
        Value::Sequence(items) => {
            if items.is_empty() {
                return Err(Problem::invalid("an empty list of values matches nothing"));
            }
            items.iter().map(one).collect()
        }
        other => Ok(vec![one(other)?]),
    }
}

fn compile_item(key: &str, value: &Value) -> Result<Test, Problem> {
    let mut parts = key.split('|');
    let field_name = parts.next().unwrap_or_default();
    let modifier_names: Vec<&str> = parts.collect();
    let mods = Modifiers::parse(&modifier_names)?;
    if field_name.is_empty() {
        return Err(Problem::unsupported(
            "keyword search (modifiers without a field); name the field to match",
        ));
    }
    let field = Field::parse(field_name).ok_or_else(|| {
        Problem::Invalid(format!(
            "unknown field `{field_name}` (the pushback/mfa fields are: {})",
            Field::known_names()
        ))
    })?;

    if mods.exists {
        let present = value
            .as_bool()
            .ok_or_else(|| Problem::invalid("`exists` takes `true` or `false`"))?;
        return Ok(Test::Exists { field, present });
    }
    if mods.fieldref {
        let other_name = value
            .as_str()
            .ok_or_else(|| Problem::invalid("`fieldref` takes the name of another field"))?;
        let other = Field::parse(other_name).ok_or_else(|| {
            Problem::Invalid(format!("`fieldref` names unknown field `{other_name}`"))
        })?;
        if field.shape() != other.shape() || field.shape() == Shape::Network {
            return Err(Problem::Invalid(format!(
                "`fieldref` compares `{}` with `{}`, which hold different kinds of value",
                field.name(),
                other.name()
            )));
        }
        return Ok(Test::SameAs {
            field,
            other,
            cased: mods.cased,
        });
    }
    let values = scalars(value)?;
    match field.shape() {
        Shape::Text => Ok(Test::Text {
            field,
            patterns: text_patterns(&values, &mods)?,
            all: mods.all,
        }),
        Shape::TextList => Ok(Test::List {
            patterns: text_patterns(&values, &mods)?,
            all: mods.all,
        }),
        Shape::Name => {
            if values.iter().any(Option::is_none) {
                return Err(Problem::Invalid(format!(
                    "`{}` is never absent; `null` cannot match it",
                    field.name()
                )));
            }
            let patterns = text_patterns(&values, &mods)?;
            let names: Vec<&str> = if field == Field::Kind {
                EventKind::ALL.iter().map(|k| k.as_str()).collect()
            } else {
                SOURCES.iter().map(|s| s.as_str()).collect()
            };
            let mut bits: u16 = 0;
            for (i, name) in names.iter().enumerate() {
                let hit = |p: &Pattern| p.matches(Some(name));
                let ok = if mods.all {
                    patterns.iter().all(hit)
                } else {
                    patterns.iter().any(hit)
                };
                if ok {
                    bits |= 1 << i;
                }
            }
            // A value that names no kind at all is a typo, not a filter.
            for (p, raw) in patterns.iter().zip(&values) {
                if !names.iter().any(|n| p.matches(Some(n))) {
                    return Err(Problem::Invalid(format!(
                        "`{}` value `{}` matches none of: {}",
                        field.name(),
                        raw.as_deref().unwrap_or_default(),
                        names.join(", ")
                    )));
                }
            }
            Ok(if field == Field::Kind {
                Test::Kind(KindSet(bits))
            } else {
                Test::Source(u8::try_from(bits).unwrap_or(u8::MAX))
            })
        }
        Shape::Ip => {
            if mods.text_only() {
                return Err(Problem::Unsupported(format!(
                    "text modifiers on the address field `{}`; use `|cidr`",
                    field.name()
                )));
            }
            let networks = values
                .iter()
                .map(|v| {
                    v.as_deref()
                        .map(|s| parse_network(s, mods.cidr))
                        .transpose()
                })
                .collect::<Result<_, _>>()?;
            Ok(Test::Ip {
                field,
                networks,
                all: mods.all,
            })
        }
        Shape::Number => {
            if mods.text_only() || mods.cidr || mods.all {
                return Err(Problem::Unsupported(format!(
                    "modifiers on the number field `{}`",
                    field.name()
                )));
            }
            let values = values
                .iter()
                .map(|v| {
                    v.as_deref()
                        .map(|s| {
                            s.trim().parse::<u64>().map_err(|_| {
                                Problem::Invalid(format!(
                                    "`{}` takes whole numbers, not `{s}`",
                                    field.name()
                                ))
                            })
                        })
                        .transpose()
                })
                .collect::<Result<_, _>>()?;
            Ok(Test::Number { field, values })
        }
        Shape::Network => Err(Problem::Unsupported(format!(
            "matching the derived field `{}` in a detection; match `src_ip|cidr` / \
             `answer_ip|cidr` instead (derived fields are for group-by and value_count)",
            field.name()
        ))),
    }
}

const SOURCES: [EventSource; 4] = [
    EventSource::Okta,
    EventSource::Entra,
    EventSource::Duo,
    EventSource::Pushback,
];

fn parse_network(s: &str, cidr: bool) -> Result<Network, Problem> {
    let bad = || {
        Problem::Invalid(format!(
            "`{s}` is not an IP address{}",
            if cidr { " or CIDR network" } else { "" }
        ))
    };
    let (addr, prefix) = match (cidr, s.split_once('/')) {
        (true, Some((a, p))) => (a, Some(p)),
        (false, Some(_)) => {
            return Err(Problem::Invalid(format!(
                "`{s}` is a network; add the `|cidr` modifier"
            )));
        }
        (_, None) => (s, None),
    };
    let addr: IpAddr = addr.trim().parse().map_err(|_| bad())?;
    let addr = unmap(addr);
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.trim().parse::<u8>().map_err(|_| bad())?,
        None => max,
    };
    if prefix > max {
        return Err(bad());
    }
    Ok(Network { addr, prefix })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Piece {
    Char(char),
    Star,
    One,
}

/// Sigma's wildcard syntax: `*`, `?`, and `\` escaping `*`, `?` or `\`.
fn pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    out.push(Piece::Char(n));
                    chars.next();
                }
                _ => out.push(Piece::Char('\\')),
            },
            '*' => out.push(Piece::Star),
            '?' => out.push(Piece::One),
            c => out.push(Piece::Char(c)),
        }
    }
    out
}

fn text_patterns(values: &[Option<String>], mods: &Modifiers) -> Result<Vec<Pattern>, Problem> {
    values
        .iter()
        .map(|v| match v {
            None => Ok(Pattern::Null),
            Some(s) if mods.re => {
                let flags = if mods.re_flags.is_empty() {
                    String::new()
                } else {
                    format!("(?{})", mods.re_flags)
                };
                Regex::new(&format!("{flags}{s}"))
                    .map(Pattern::Regex)
                    .map_err(|e| Problem::Invalid(format!("regular expression `{s}`: {e}")))
            }
            Some(s) => {
                if mods.cidr {
                    return Err(Problem::invalid("`cidr` applies to src_ip and answer_ip"));
                }
                wildcard(s, mods)
            }
        })
        .collect()
}

fn wildcard(s: &str, mods: &Modifiers) -> Result<Pattern, Problem> {
    let mut p = pieces(s);
    if mods.contains || mods.endswith {
        p.insert(0, Piece::Star);
    }
    if mods.contains || mods.startswith {
        p.push(Piece::Star);
    }
    p.dedup_by(|a, b| *a == Piece::Star && *b == Piece::Star);
    let lead = p.first() == Some(&Piece::Star);
    let trail = p.len() > 1 && p.last() == Some(&Piece::Star);
    let core = &p[usize::from(lead)..p.len() - usize::from(trail)];
    let simple = core.iter().all(|x| matches!(x, Piece::Char(_)));
    let cased = mods.cased;
    if simple {
        let text: String = core
            .iter()
            .filter_map(|x| match x {
                Piece::Char(c) => Some(*c),
                _ => None,
            })
            .collect();
        let text = if cased { text } else { text.to_lowercase() };
        let n: Box<str> = text.into();
        return Ok(match (lead, trail) {
            (false, false) => Pattern::Exact(n, cased),
            (false, true) => Pattern::Prefix(n, cased),
            (true, false) if n.is_empty() => Pattern::Any,
            (true, false) => Pattern::Suffix(n, cased),
            (true, true) if n.is_empty() => Pattern::Any,
            (true, true) => Pattern::Contains(n, cased),
        });
    }
    let mut re = String::from(if cased { "(?s)^" } else { "(?si)^" });
    for x in &p {
        match x {
            Piece::Star => re.push_str(".*"),
            Piece::One => re.push('.'),
            Piece::Char(c) => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    Regex::new(&re)
        .map(Pattern::Regex)
        .map_err(|e| Problem::Invalid(format!("wildcard value `{s}`: {e}")))
}

#[cfg(test)]
mod tests {
    use pushback_model::Timestamp;

    use super::*;

    fn yaml(s: &str) -> Value {
        serde_norway::from_str(s).expect("yaml")
    }

    fn det(s: &str) -> Detection {
        compile(&yaml(s)).expect("compiles")
    }

    fn problem(s: &str) -> String {
        compile(&yaml(s)).expect_err("refused").to_string()
    }

    fn ev(kind: EventKind, user: &str) -> AuthEvent {
        AuthEvent::new(
            "e",
            Timestamp::from_millis(0),
            EventSource::Okta,
            kind,
            user,
            "x",
        )
    }

    #[test]
    fn maps_are_and_lists_are_or_and_case_is_ignored() {
        let d = det("sel: {kind: push_denied, user: [Alice, bob]}\n\
             condition: sel");
        assert!(d.matches(&ev(EventKind::PushDenied, "ALICE")));
        assert!(d.matches(&ev(EventKind::PushDenied, "bob")));
        assert!(!d.matches(&ev(EventKind::PushDenied, "carol")));
        assert!(!d.matches(&ev(EventKind::PushSent, "alice")));
        assert_eq!(d.kinds, KindSet(KindSet::bit(EventKind::PushDenied)));

        let d = det("sel:\n  - {user: alice}\n  - {reason: fraud}\ncondition: sel");
        let mut e = ev(EventKind::Other, "zed");
        assert!(!d.matches(&e));
        e.reason = Some("FRAUD".into());
        assert!(d.matches(&e));
    }

    #[test]
    fn string_modifiers_and_wildcards() {
        let d = det("s: {reason|contains: 'denied; user'}\ncondition: s");
        let mut e = ev(EventKind::PushDenied, "a");
        e.reason = Some("MFA Denied; User declined the authentication".into());
        assert!(d.matches(&e));
        let d = det("s: {reason|startswith: mfa, factor|endswith: _PUSH}\ncondition: s");
        e.factor = Some("okta_verify_push".into());
        assert!(d.matches(&e));
        e.factor = Some("push_okta".into());
        assert!(!d.matches(&e));
        let d = det("s: {reason|contains|all: [mfa, declined]}\ncondition: s");
        assert!(d.matches(&e));
        e.reason = Some("MFA denied; fraud".into());
        assert!(!d.matches(&e), "`all` needs every value");
        let d = det("s: {reason: 'mfa*fr?ud'}\ncondition: s");
        assert!(d.matches(&e), "wildcards in a plain value");
        let d = det(r"s: {app: 'C:\apps\\*'}
condition: s");
        e.app = Some(r"c:\apps\vpn".into());
        assert!(d.matches(&e), "a backslash before a letter is literal");
        let d = det(r"s: {reason: 'a\*b'}
condition: s");
        e.reason = Some("A*B".into());
        assert!(d.matches(&e), "escaped star is literal");
        e.reason = Some("aXb".into());
        assert!(!d.matches(&e));
    }

    #[test]
    fn cased_and_regex_compare_case_exactly_unless_told() {
        let mut e = ev(EventKind::Other, "Alice");
        assert!(!det("s: {user|cased: alice}\ncondition: s").matches(&e));
        assert!(det("s: {user|cased: Alice}\ncondition: s").matches(&e));
        assert!(!det("s: {user|re: '^ali'}\ncondition: s").matches(&e));
        assert!(det("s: {user|re|i: '^ali'}\ncondition: s").matches(&e));
        e.user = "Ölaf".into();
        assert!(
            det("s: {user: ölaf}\ncondition: s").matches(&e),
            "unicode folding"
        );
        assert!(det("s: {user|endswith: LAF}\ncondition: s").matches(&e));
        assert!(det("s: {user|contains: LA}\ncondition: s").matches(&e));
    }

    #[test]
    fn null_exists_and_empty_strings() {
        let d = det("s: {session: null}\ncondition: s");
        let mut e = ev(EventKind::Other, "a");
        assert!(d.matches(&e));
        e.session = Some("".into());
        assert!(d.matches(&e), "empty counts as absent");
        e.session = Some("s1".into());
        assert!(!d.matches(&e));
        assert!(det("s: {session|exists: true}\ncondition: s").matches(&e));
        assert!(!det("s: {src_ip|exists: true}\ncondition: s").matches(&e));
        assert!(det("s: {src_ip: null}\ncondition: s").matches(&e));
    }

    #[test]
    fn addresses_compare_as_addresses_and_networks() {
        let d = det("s: {src_ip|cidr: ['10.0.0.0/8', '2001:db8::/32']}\ncondition: s");
        let mut e = ev(EventKind::Other, "a");
        assert!(!d.matches(&e));
        e.src_ip = Some("10.2.3.4".parse().expect("ip"));
        assert!(d.matches(&e));
        e.src_ip = Some("::ffff:10.2.3.4".parse().expect("ip"));
        assert!(d.matches(&e), "v4-mapped v6 counts as v4");
        e.src_ip = Some("2001:db8:ff::1".parse().expect("ip"));
        assert!(d.matches(&e));
        e.src_ip = Some("11.0.0.1".parse().expect("ip"));
        assert!(!d.matches(&e));
        assert!(det("s: {src_ip: 11.0.0.1}\ncondition: s").matches(&e));
        assert!(det("s: {src_ip|cidr: 0.0.0.0/0}\ncondition: s").matches(&e));
        assert!(problem("s: {src_ip|startswith: '10.'}\ncondition: s").contains("use `|cidr`"));
        assert!(problem("s: {src_ip: 10.0.0.0/8}\ncondition: s").contains("add the `|cidr`"));
        assert!(problem("s: {src_ip|cidr: 10.0.0.0/33}\ncondition: s").contains("not an IP"));
    }

    #[test]
    fn fieldref_compares_two_fields_of_one_event() {
        let d = det(
            "both: {src_country|exists: true, answer_country|exists: true}\n\
             same: {src_country|fieldref: answer_country}\n\
             condition: both and not same",
        );
        let mut e = ev(EventKind::MfaSuccess, "a");
        assert!(!d.matches(&e), "absent fields are no mismatch");
        e.src_country = Some("Germany".into());
        e.answer_country = Some("germany".into());
        assert!(!d.matches(&e));
        e.answer_country = Some("Nigeria".into());
        assert!(d.matches(&e));
        assert!(problem("s: {src_ip|fieldref: user}\ncondition: s").contains("different kinds"));
    }

    #[test]
    fn kinds_and_sources_are_name_sets_and_typos_are_refused() {
        let d = det("s: {kind|startswith: push_}\ncondition: s");
        assert!(d.matches(&ev(EventKind::PushTimeout, "a")));
        assert!(!d.matches(&ev(EventKind::MfaSuccess, "a")));
        assert_eq!(
            d.kinds,
            KindSet(
                KindSet::bit(EventKind::PushSent)
                    | KindSet::bit(EventKind::PushDenied)
                    | KindSet::bit(EventKind::PushTimeout)
            )
        );
        let err = problem("s: {kind: push_deny}\ncondition: s");
        assert!(
            err.contains("matches none of") && err.contains("push_denied"),
            "{err}"
        );
        assert!(det("s: {source: okta}\ncondition: s").matches(&ev(EventKind::Other, "a")));
        assert!(!det("s: {source: duo}\ncondition: s").matches(&ev(EventKind::Other, "a")));
    }

    #[test]
    fn the_condition_grammar_is_evaluated_with_quantifiers() {
        let d = det(
            "sel_a: {user: a}\nsel_b: {user: b}\n_helper: {kind: other}\n\
             filter: {reason: ok}\n\
             condition: 1 of sel_* and not filter",
        );
        let mut e = ev(EventKind::Other, "b");
        assert!(d.matches(&e));
        e.reason = Some("ok".into());
        assert!(!d.matches(&e));
        let d = det("a: {user: x}\nb: {kind: other}\ncondition: all of them");
        assert!(d.matches(&ev(EventKind::Other, "x")));
        assert!(!d.matches(&ev(EventKind::PushSent, "x")));
        assert_eq!(d.kinds, KindSet(KindSet::bit(EventKind::Other)));
        let d = det("a: {user: x}\n_b: {kind: other}\ncondition: 1 of them");
        assert!(
            d.matches(&ev(EventKind::PushSent, "x")),
            "`them` skips names starting with _"
        );
        assert_eq!(d.kinds, KindSet::ALL);
        assert!(problem("a: {user: x}\ncondition: 1 of sel*").contains("names no selection"));
        assert!(problem("a: {user: x}\ncondition: b").contains("not a selection"));
    }

    #[test]
    fn unsupported_constructs_are_named() {
        for (rule, what) in [
            ("s: {reason|base64: x}\ncondition: s", "modifier `base64`"),
            ("s: {reason|windash: x}\ncondition: s", "modifier `windash`"),
            ("s: [a, b]\ncondition: s", "keyword search"),
            ("s: {user: a}\ntimeframe: 5m\ncondition: s", "timeframe"),
            ("s: {src_net24: x}\ncondition: s", "derived field"),
            (
                "s: {user: a}\ncondition: s | count() > 5",
                "correlation rule",
            ),
            (
                "s: {asn|contains: 7}\ncondition: s",
                "modifiers on the number field",
            ),
        ] {
            let err = compile(&yaml(rule)).expect_err(rule);
            assert!(matches!(err, Problem::Unsupported(_)), "{rule}: {err}");
            assert!(err.to_string().contains(what), "{rule}: {err}");
        }
        let err = problem("s: {time: 5}\ncondition: s");
        assert!(err.contains("unknown field `time`"), "{err}");
    }

    #[test]
    fn numbers_match_the_asn() {
        let d = det("s: {asn: [701, null]}\ncondition: s");
        let mut e = ev(EventKind::Other, "a");
        assert!(d.matches(&e), "null: absent");
        e.asn = Some(701);
        assert!(d.matches(&e));
        e.asn = Some(702);
        assert!(!d.matches(&e));
    }
}

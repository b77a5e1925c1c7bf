//! Parsing a registry file: every problem at once, each with its line and column.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::DeserializeOwned;
use serde_norway::Value;

use super::{Registry, RegistryDoc};
use crate::position::{Pos, PositionIndex, Step, render};

/// One thing wrong with an input file, where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub pos: Pos,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.pos.line, self.pos.column, self.message
        )
    }
}

/// A registry that could not be used: all the problems found, in file order.
#[derive(Debug, thiserror::Error)]
#[error("{}", render_problems(.problems))]
#[non_exhaustive]
pub struct ParseError {
    pub problems: Vec<Problem>,
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Largest registry accepted, in bytes: far beyond any real organisation's.
const MAX_BYTES: usize = 8 << 20;

const SECTIONS: &[&str] = &[
    "version",
    "organisation",
    "parties",
    "roles",
    "staffing",
    "controls",
    "applications",
    "exceptions",
];

/// Turns a YAML document into typed values item by item, collecting every problem with
/// its position (the registry and incident timelines share it).
pub(crate) struct Loader<'a> {
    file: &'a str,
    index: PositionIndex,
    pub(crate) problems: Vec<Problem>,
    /// Ids of items that failed to parse, by section: references to them are not
    /// reported as dangling on top of the item's own problem.
    failed_ids: Vec<(String, String)>,
}

impl<'a> Loader<'a> {
    pub(crate) fn new(file: &'a str, text: &str) -> Self {
        Self {
            file,
            index: PositionIndex::build(text),
            problems: Vec::new(),
            failed_ids: Vec::new(),
        }
    }

    /// The top-level mapping of `text`, or the one problem that stops it being one.
    pub(crate) fn document(
        file: &str,
        text: &str,
        expected: &str,
    ) -> Result<serde_norway::Mapping, ParseError> {
        let fail = |pos: Pos, message: String| ParseError {
            problems: vec![Problem {
                file: file.to_owned(),
                pos,
                message,
            }],
        };
        if text.len() > MAX_BYTES {
            return Err(fail(
                Pos { line: 1, column: 1 },
                format!("larger than {MAX_BYTES} bytes"),
            ));
        }
        let value: Value = serde_norway::from_str(text).map_err(|e| {
            let pos = e.location().map_or(Pos { line: 1, column: 1 }, |l| Pos {
                line: l.line(),
                column: l.column(),
            });
            fail(pos.within(text), format!("invalid YAML: {e}"))
        })?;
        match value {
            Value::Mapping(top) => Ok(top),
            _ => Err(fail(
                Pos { line: 1, column: 1 },
                format!("expected {expected}"),
            )),
        }
    }

    /// Every problem, in file order, or nothing.
    pub(crate) fn finish(mut self) -> Result<PositionIndex, ParseError> {
        if self.problems.is_empty() {
            return Ok(self.index);
        }
        self.problems.sort_by_key(|p| p.pos);
        Err(ParseError {
            problems: self.problems,
        })
    }

    pub(crate) fn problem(&mut self, path: &[Step], message: impl Into<String>) {
        let pos = self.index.find(path);
        self.problems.push(Problem {
            file: self.file.to_owned(),
            pos,
            message: message.into(),
        });
    }

    /// Deserialises `value` (found at `base`) as `T`, reporting where inside it fails.
    pub(crate) fn typed<T: DeserializeOwned>(&mut self, base: &[Step], value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut path = base.to_vec();
                for seg in e.path().iter() {
                    match seg {
                        serde_path_to_error::Segment::Seq { index } => {
                            path.push(Step::Index(*index));
                        }
                        serde_path_to_error::Segment::Map { key } => {
                            path.push(Step::Key(key.clone()));
                        }
                        _ => {}
                    }
                }
                let inner = e.into_inner().to_string();
                // An unknown key: point at the key itself.
                if let Some(name) = unknown_field(&inner)
                    && path.last() != Some(&Step::Key(name.clone()))
                {
                    path.push(Step::Key(name));
                }
                let shown = render(&path);
                self.problem(&path, format!("{shown}: {inner}"));
                None
            }
        }
    }

    /// A list under the top-level `key`, each item typed on its own.
    pub(crate) fn list<T: DeserializeOwned>(&mut self, key: &str, value: Value) -> Vec<T> {
        let base = [Step::Key(key.to_owned())];
        match value {
            Value::Sequence(items) => items
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    let path = [Step::Key(key.to_owned()), Step::Index(i)];
                    let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
                    let parsed = self.typed(&path, item);
                    if let (None, Some(id)) = (&parsed, id) {
                        self.failed_ids.push((key.to_owned(), id));
                    }
                    parsed
                })
                .collect(),
            Value::Null => Vec::new(),
            _ => {
                self.problem(&base, format!("{key}: expected a list"));
                Vec::new()
            }
        }
    }
}

/// `unknown field `x`, expected …` → `x`.
fn unknown_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest.split('`').next()?.to_owned())
}

impl Registry {
    /// Parses and cross-checks a registry. `file` names it in messages.
    pub fn parse(file: &str, text: &str) -> Result<Self, ParseError> {
        let top = Loader::document(
            file,
            text,
            "a registry (a mapping with version, parties, roles, staffing, controls, applications, exceptions)",
        )?;
        let mut loader = Loader::new(file, text);
        let mut doc = RegistryDoc::default();
        let mut saw_version = false;
        for (key, value) in top {
            let Some(name) = key.as_str().map(str::to_owned) else {
                loader.problem(&[], "keys must be strings");
                continue;
            };
            let here = [Step::Key(name.clone())];
            match name.as_str() {
                "version" => {
                    saw_version = true;
                    if let Some(v) = loader.typed::<u32>(&here, value) {
                        if v != 1 {
                            loader.problem(&here, format!("version: {v} is not supported (1 is)"));
                        }
                        doc.version = v;
                    }
                }
                "organisation" => {
                    doc.organisation = loader.typed(&here, value).unwrap_or_default();
                }
                "parties" => doc.parties = loader.list("parties", value),
                "roles" => doc.roles = loader.list("roles", value),
                "staffing" => doc.staffing = loader.typed(&here, value).unwrap_or_default(),
                "controls" => doc.controls = loader.list("controls", value),
                "applications" => doc.applications = loader.list("applications", value),
                "exceptions" => doc.exceptions = loader.list("exceptions", value),
                other => loader.problem(
                    &here,
                    format!(
                        "unknown key `{other}`, expected one of {}",
                        SECTIONS.join(", ")
                    ),
                ),
            }
        }
        if !saw_version {
            loader.problem(&[], "missing `version: 1`");
        }
        check_references(&mut loader, &doc);
        let index = loader.finish()?;
        Ok(Registry {
            file: file.to_owned(),
            doc,
            index,
        })
    }
}

fn key(k: &str) -> Step {
    Step::Key(k.to_owned())
}

/// Duplicate ids and references to things that do not exist.
fn check_references(loader: &mut Loader<'_>, doc: &RegistryDoc) {
    let parties = ids(loader, "parties", doc.parties.iter().map(|p| p.id.as_str()));
    let roles = ids(loader, "roles", doc.roles.iter().map(|r| r.id.as_str()));
    let controls = ids(
        loader,
        "controls",
        doc.controls.iter().map(|c| c.id.as_str()),
    );
    let apps = ids(
        loader,
        "applications",
        doc.applications.iter().map(|a| a.id.as_str()),
    );
    ids(
        loader,
        "exceptions",
        doc.exceptions.iter().map(|e| e.id.as_str()),
    );
    let checks: BTreeSet<String> = crate::posture::CHECKS
        .iter()
        .map(|c| c.id.to_owned())
        .collect();

    let refer = |loader: &mut Loader<'_>,
                 path: Vec<Step>,
                 what: &str,
                 id: &str,
                 known: &BTreeSet<String>| {
        if !known.contains(id) {
            let shown = render(&path);
            loader.problem(&path, format!("{shown}: no {what} `{id}`"));
        }
    };
    for (role, staff) in &doc.staffing {
        refer(
            loader,
            vec![key("staffing"), key(role)],
            "role",
            role,
            &roles,
        );
        for (i, party) in staff.iter().enumerate() {
            refer(
                loader,
                vec![key("staffing"), key(role), Step::Index(i)],
                "party",
                party,
                &parties,
            );
        }
    }
    for (c, control) in doc.controls.iter().enumerate() {
        let base = vec![key("controls"), Step::Index(c)];
        let raci = &control.raci;
        for (field, list) in [
            ("accountable", &raci.accountable),
            ("responsible", &raci.responsible),
            ("consulted", &raci.consulted),
            ("informed", &raci.informed),
        ] {
            for (i, role) in list.iter().enumerate() {
                let mut path = base.clone();
                path.extend([key("raci"), key(field)]);
                if field != "accountable" || list.len() > 1 {
                    path.push(Step::Index(i));
                }
                refer(loader, path, "role", role, &roles);
            }
        }
        for (i, check) in control.checks.iter().enumerate() {
            let mut path = base.clone();
            path.extend([key("checks"), Step::Index(i)]);
            refer(loader, path, "posture check", check, &checks);
        }
    }
    for (a, app) in doc.applications.iter().enumerate() {
        let base = vec![key("applications"), Step::Index(a)];
        let mut path = base.clone();
        path.push(key("owner"));
        refer(loader, path, "role", &app.owner, &roles);
        for (i, shared) in app.shared_accounts.iter().enumerate() {
            if let Some(owner) = &shared.owner {
                let mut path = base.clone();
                path.extend([key("shared_accounts"), Step::Index(i), key("owner")]);
                refer(loader, path, "role", owner, &roles);
            }
        }
    }
    for (x, exception) in doc.exceptions.iter().enumerate() {
        let base = vec![key("exceptions"), Step::Index(x)];
        for (field, list) in [
            ("controls", &exception.controls),
            ("compensating_controls", &exception.compensating_controls),
        ] {
            for (i, control) in list.iter().enumerate() {
                let mut path = base.clone();
                path.extend([key(field), Step::Index(i)]);
                refer(loader, path, "control", control, &controls);
            }
        }
        for (i, app) in exception.scope.applications.iter().enumerate() {
            let mut path = base.clone();
            path.extend([key("scope"), key("applications"), Step::Index(i)]);
            refer(loader, path, "application", app, &apps);
        }
        if let Some(role) = &exception.risk_owner {
            let mut path = base.clone();
            path.push(key("risk_owner"));
            refer(loader, path, "role", role, &roles);
        }
        for (field, party) in [
            ("requested_by", &exception.requested_by),
            ("approved_by", &exception.approved_by),
        ] {
            if let Some(party) = party {
                let mut path = base.clone();
                path.push(key(field));
                refer(loader, path, "party", party, &parties);
            }
        }
    }
}

/// The ids of one section, reporting duplicates.
fn ids<'a>(
    loader: &mut Loader<'_>,
    section: &str,
    items: impl Iterator<Item = &'a str>,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for (i, id) in items.enumerate() {
        if !seen.insert(id.to_owned()) {
            loader.problem(
                &[key(section), Step::Index(i), key("id")],
                format!("{section}[{i}].id: `{id}` is used twice"),
            );
        }
    }
    seen.extend(
        loader
            .failed_ids
            .iter()
            .filter(|(s, _)| s == section)
            .map(|(_, id)| id.clone()),
    );
    seen
}

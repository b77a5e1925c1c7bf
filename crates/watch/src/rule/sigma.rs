//! Reading Sigma YAML: a file holds one or more documents separated by `---`; each is a
//! detection rule (`logsource` + `detection`) or a correlation rule (`correlation`).
//! This module checks the envelope (title, identity, level, tags, log source, known
//! attributes) and hands the sections to [`super::detection`] and [`super::correlation`].

use pushback_model::Severity;
use serde::Deserialize;
use serde_norway::Value;

use super::correlation::{self, CorrelationDef};
use super::detection::{self, Detection};
use super::{Problem, RuleError};

/// What every rule carries besides its logic.
#[derive(Clone, Debug)]
pub(crate) struct Meta {
    pub(crate) name: Option<String>,
    pub(crate) id: Option<String>,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) level: Option<Severity>,
    pub(crate) tags: Vec<String>,
    /// The file (or built-in name) the rule came from.
    pub(crate) origin: String,
}

impl Meta {
    /// The rule's stable identity: its `name`, else its `id`.
    pub(crate) fn key(&self) -> &str {
        self.name
            .as_deref()
            .or(self.id.as_deref())
            .unwrap_or(&self.title)
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Body {
    Detection(Detection),
    Correlation(CorrelationDef),
}

/// One parsed document.
#[derive(Debug)]
pub(crate) struct Doc {
    pub(crate) meta: Meta,
    pub(crate) body: Body,
}

const COMMON: &[&str] = &[
    "title",
    "id",
    "name",
    "status",
    "description",
    "references",
    "author",
    "date",
    "modified",
    "tags",
    "falsepositives",
    "level",
    "related",
    "license",
    "taxonomy",
    "fields",
    "scope",
];

/// Parses every document of one file.
pub(crate) fn parse_file(origin: &str, text: &str) -> Result<Vec<Doc>, RuleError> {
    let mut docs = Vec::new();
    for (i, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de).map_err(|e| RuleError::Yaml {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
        if value.is_null() {
            continue; // an empty document, e.g. after a trailing `---`
        }
        let label = label_of(&value).unwrap_or_else(|| format!("document {}", i + 1));
        let doc = parse_doc(origin, &value).map_err(|p| p.into_error(origin, &label))?;
        docs.push(doc);
    }
    if docs.is_empty() {
        return Err(RuleError::Invalid {
            origin: origin.to_owned(),
            rule: "-".to_owned(),
            message: "the file holds no rule".to_owned(),
        });
    }
    Ok(docs)
}

fn label_of(v: &Value) -> Option<String> {
    ["name", "id", "title"]
        .iter()
        .find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_owned))
}

fn text(v: &Value, key: &str) -> Result<Option<String>, Problem> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(Problem::Invalid(format!("`{key}` must be a string"))),
    }
}

fn parse_doc(origin: &str, v: &Value) -> Result<Doc, Problem> {
    let Value::Mapping(map) = v else {
        return Err(Problem::invalid("a rule document must be a map"));
    };
    let is_correlation = map.contains_key("correlation");
    let is_detection = map.contains_key("detection");
    if map.contains_key("filter") {
        return Err(Problem::unsupported("Sigma filter documents (`filter`)"));
    }
    let extra: &[&str] = match (is_detection, is_correlation) {
        (true, false) => &["logsource", "detection"],
        (false, true) => &["correlation", "generate"],
        (true, true) => {
            return Err(Problem::invalid(
                "a document is either a detection or a correlation, not both",
            ));
        }
        (false, false) => {
            return Err(Problem::invalid(
                "the document has neither `detection` nor `correlation`",
            ));
        }
    };
    for k in map.keys() {
        let key = k
            .as_str()
            .ok_or_else(|| Problem::invalid("a rule attribute is not a string"))?;
        if !COMMON.contains(&key) && !extra.contains(&key) {
            return Err(Problem::Unsupported(format!("attribute `{key}`")));
        }
    }
    let title = text(v, "title")?.ok_or_else(|| Problem::invalid("the rule has no `title`"))?;
    let level = match text(v, "level")? {
        None => None,
        Some(l) => Some(match l.as_str() {
            "informational" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            other => {
                return Err(Problem::Invalid(format!(
                    "`level: {other}` is not informational, low, medium, high or critical"
                )));
            }
        }),
    };
    let tags = match v.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|t| {
                t.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Problem::invalid("`tags` must be a list of strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(Problem::invalid("`tags` must be a list of strings")),
    };
    let name = text(v, "name")?;
    let id = match v.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(Problem::invalid("`id` must be a string")),
    };
    let meta = Meta {
        name,
        id,
        title,
        description: text(v, "description")?,
        level,
        tags,
        origin: origin.to_owned(),
    };
    let body = if is_detection {
        check_logsource(v.get("logsource"))?;
        let det = v
            .get("detection")
            .ok_or_else(|| Problem::invalid("no `detection`"))?;
        Body::Detection(detection::compile(det)?)
    } else {
        let top_generate = match v.get("generate") {
            None => None,
            Some(g) => Some(
                g.as_bool()
                    .ok_or_else(|| Problem::invalid("`generate` must be true or false"))?,
            ),
        };
        let section = v
            .get("correlation")
            .ok_or_else(|| Problem::invalid("no `correlation`"))?;
        Body::Correlation(correlation::parse(section, top_generate)?)
    };
    Ok(Doc { meta, body })
}

fn check_logsource(v: Option<&Value>) -> Result<(), Problem> {
    let Some(Value::Mapping(map)) = v else {
        return Err(Problem::invalid(
            "a detection rule needs `logsource: {product: pushback, category: mfa}`",
        ));
    };
    let mut product = None;
    let mut category = None;
    for (k, val) in map {
        let key = k.as_str().unwrap_or_default();
        let value = val.as_str().unwrap_or_default();
        match key {
            "product" => product = Some(value),
            "category" => category = Some(value),
            "definition" => {}
            other => {
                return Err(Problem::Invalid(format!(
                    "log source `{other}: {value}` is not pushback's; rules here read \
                     `logsource: {{product: pushback, category: mfa}}`"
                )));
            }
        }
    }
    if product != Some("pushback") || category != Some("mfa") {
        return Err(Problem::Invalid(format!(
            "log source `product: {}, category: {}` is not pushback's; rules here read \
             `logsource: {{product: pushback, category: mfa}}` (normalised AuthEvents)",
            product.unwrap_or("-"),
            category.unwrap_or("-")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DENY: &str = "title: Push denied\nname: push_denial\nlogsource: {product: pushback, category: mfa}\n\
                        detection: {sel: {kind: push_denied}, condition: sel}\nlevel: low\ntags: [attack.t1621]\n";

    #[test]
    fn a_detection_document_with_its_metadata() {
        let docs = parse_file("x.yml", DENY).expect("parses");
        assert_eq!(docs.len(), 1);
        let m = &docs[0].meta;
        assert_eq!(m.key(), "push_denial");
        assert_eq!(m.title, "Push denied");
        assert_eq!(m.level, Some(Severity::Low));
        assert_eq!(m.tags, ["attack.t1621"]);
        assert!(matches!(docs[0].body, Body::Detection(_)));
    }

    #[test]
    fn several_documents_in_one_file() {
        let text = format!(
            "title: Flood\nname: flood\ncorrelation: {{type: event_count, rules: [push_denial], \
             group-by: [user], timespan: 10m, condition: {{gte: 5}}}}\nlevel: high\n---\n{DENY}---\n"
        );
        let docs = parse_file("x.yml", &text).expect("parses");
        assert_eq!(docs.len(), 2);
        assert!(matches!(docs[0].body, Body::Correlation(_)));
    }

    #[test]
    fn other_log_sources_are_refused_naming_the_file_and_rule() {
        let text = DENY.replace("product: pushback", "product: windows");
        let err = parse_file("rules/x.yml", &text)
            .expect_err("refused")
            .to_string();
        assert!(
            err.starts_with("rules/x.yml: rule `push_denial`:") && err.contains("product: windows"),
            "{err}"
        );
        let text = DENY.replace("category: mfa", "service: security");
        assert!(parse_file("x.yml", &text).is_err());
    }

    #[test]
    fn unknown_attributes_levels_and_shapes_are_refused() {
        let err = parse_file("x.yml", &format!("{DENY}generated: true\n"))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("unsupported: attribute `generated`"), "{err}");
        let err = parse_file("x.yml", &DENY.replace("level: low", "level: severe"))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("level: severe"), "{err}");
        assert!(parse_file("x.yml", "[1, 2]").is_err());
        assert!(parse_file("x.yml", "title: x\n").is_err());
        assert!(parse_file("x.yml", "").is_err());
        let err = parse_file("x.yml", "title: [unclosed")
            .expect_err("yaml")
            .to_string();
        assert!(err.starts_with("x.yml: not valid YAML"), "{err}");
    }

    #[test]
    fn an_unsupported_modifier_is_refused_naming_file_rule_and_modifier() {
        let text = DENY.replace("{kind: push_denied}", "{reason|base64offset|contains: x}");
        let err = parse_file("rules/b64.yml", &text).expect_err("refused");
        assert!(matches!(err, RuleError::Unsupported { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("rules/b64.yml")
                && msg.contains("push_denial")
                && msg.contains("modifier `base64offset`"),
            "{msg}"
        );
    }
}

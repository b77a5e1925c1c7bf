//! The `condition` of a Sigma detection: a boolean expression over the names of the
//! rule's selections.
//!
//! Grammar (keywords are matched without regard to case; `not` binds tighter than `and`,
//! which binds tighter than `or`):
//!
//! ```text
//! expr    = and ("or" and)*
//! and     = unary ("and" unary)*
//! unary   = "not" unary | primary
//! primary = "(" expr ")" | quant "of" target | name
//! quant   = "1" | "any" | "all"
//! target  = "them" | pattern          (pattern: a name, `*` matches any run of characters)
//! ```
//!
//! The pre-2.0 aggregation syntax (`selection | count() by user > 5`) and `near` are
//! refused: correlation rules express them.

use std::fmt;

/// A parsed condition, still naming selections; [`super::detection`] resolves the names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Expr {
    Name(String),
    /// `1 of target` (true when any selection the target names matches).
    AnyOf(Target),
    /// `all of target`.
    AllOf(Target),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// What `1 of` / `all of` quantify over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Every selection whose name does not start with `_`.
    Them,
    Pattern(String),
}

/// Why a condition could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConditionError(pub(crate) String);

impl fmt::Display for ConditionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token<'a> {
    Open,
    Close,
    Word(&'a str),
}

fn tokens(s: &str) -> Result<Vec<Token<'_>>, ConditionError> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start();
        let Some(c) = rest.chars().next() else {
            return Ok(out);
        };
        match c {
            '(' => {
                out.push(Token::Open);
                rest = &rest[1..];
            }
            ')' => {
                out.push(Token::Close);
                rest = &rest[1..];
            }
            '|' => {
                return Err(ConditionError(
                    "aggregation with `|` in a condition (the pre-2.0 `count() by` syntax) is not \
                     supported; write a correlation rule"
                        .into(),
                ));
            }
            _ => {
                let end = rest
                    .find(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '|'))
                    .unwrap_or(rest.len());
                out.push(Token::Word(&rest[..end]));
                rest = &rest[end..];
            }
        }
    }
}

fn is_keyword(w: &str, k: &str) -> bool {
    w.eq_ignore_ascii_case(k)
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.at)
    }

    fn peek_keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if is_keyword(w, k))
    }

    fn next(&mut self) -> Option<Token<'a>> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expr(&mut self) -> Result<Expr, ConditionError> {
        let mut parts = vec![self.and()?];
        while self.peek_keyword("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::Or(parts)
        })
    }

    fn and(&mut self) -> Result<Expr, ConditionError> {
        let mut parts = vec![self.unary()?];
        while self.peek_keyword("and") {
            self.at += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Expr::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Expr, ConditionError> {
        if self.peek_keyword("not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ConditionError> {
        match self.next() {
            None => Err(ConditionError("the condition ends too early".into())),
            Some(Token::Close) => Err(ConditionError("unexpected `)`".into())),
            Some(Token::Open) => {
                let inner = self.expr()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(ConditionError("a `(` is not closed".into())),
                }
            }
            Some(Token::Word(w)) => {
                let quant = if w == "1" || is_keyword(w, "any") {
                    Some(true)
                } else if is_keyword(w, "all") {
                    Some(false)
                } else {
                    None
                };
                let followed_by_of = self.peek_keyword("of");
                match (quant, followed_by_of) {
                    (Some(any), true) => {
                        self.at += 1;
                        let target = match self.next() {
                            Some(Token::Word(t)) if is_keyword(t, "them") => Target::Them,
                            Some(Token::Word(t)) if !is_reserved(t) => {
                                Target::Pattern(t.to_owned())
                            }
                            _ => {
                                return Err(ConditionError(format!(
                                    "`{w} of` must be followed by `them` or a selection name \
                                     pattern"
                                )));
                            }
                        };
                        Ok(if any {
                            Expr::AnyOf(target)
                        } else {
                            Expr::AllOf(target)
                        })
                    }
                    (None, true) if w.bytes().all(|b| b.is_ascii_digit()) => Err(ConditionError(
                        format!("`{w} of` is not supported: only `1 of` and `all of`"),
                    )),
                    _ if is_keyword(w, "near") => Err(ConditionError(
                        "`near` is not supported; write a temporal correlation rule".into(),
                    )),
                    _ if is_reserved(w) => Err(ConditionError(format!("unexpected keyword `{w}`"))),
                    _ if w.contains('*') => Err(ConditionError(format!(
                        "a wildcard name `{w}` needs `1 of` or `all of` before it"
                    ))),
                    _ => Ok(Expr::Name(w.to_owned())),
                }
            }
        }
    }
}

fn is_reserved(w: &str) -> bool {
    ["and", "or", "not", "of", "them", "all"]
        .iter()
        .any(|k| is_keyword(w, k))
}

/// Parses one condition string.
pub(crate) fn parse(s: &str) -> Result<Expr, ConditionError> {
    let mut p = Parser {
        tokens: tokens(s)?,
        at: 0,
    };
    if p.tokens.is_empty() {
        return Err(ConditionError("the condition is empty".into()));
    }
    let e = p.expr()?;
    match p.peek() {
        None => Ok(e),
        Some(t) => Err(ConditionError(format!(
            "unexpected {} after a complete expression",
            match t {
                Token::Open => "`(`".to_owned(),
                Token::Close => "`)`".to_owned(),
                Token::Word(w) => format!("`{w}`"),
            }
        ))),
    }
}

/// Whether `name` matches a selection-name pattern (`*` matches any run, possibly empty).
pub(crate) fn glob_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || !name.ends_with(last) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Expr {
        Expr::Name(s.into())
    }

    #[test]
    fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
        assert_eq!(
            parse("a or not b and c").expect("parses"),
            Expr::Or(vec![
                name("a"),
                Expr::And(vec![Expr::Not(Box::new(name("b"))), name("c")])
            ])
        );
    }

    #[test]
    fn parentheses_group_and_keywords_ignore_case() {
        assert_eq!(
            parse("(a OR b) And NOT c").expect("parses"),
            Expr::And(vec![
                Expr::Or(vec![name("a"), name("b")]),
                Expr::Not(Box::new(name("c")))
            ])
        );
        assert_eq!(
            parse("((a))").expect("parses"),
            name("a"),
            "redundant parentheses"
        );
    }

    #[test]
    fn quantifiers_over_patterns_and_them() {
        assert_eq!(
            parse("1 of sel* and not all of them").expect("parses"),
            Expr::And(vec![
                Expr::AnyOf(Target::Pattern("sel*".into())),
                Expr::Not(Box::new(Expr::AllOf(Target::Them)))
            ])
        );
        assert_eq!(
            parse("any of them").expect("parses"),
            Expr::AnyOf(Target::Them)
        );
    }

    #[test]
    fn malformed_conditions_are_refused_with_a_reason() {
        for (text, why) in [
            ("", "empty"),
            ("a and", "ends too early"),
            ("(a or b", "not closed"),
            ("a b", "unexpected `b`"),
            ("a)", "unexpected `)`"),
            ("2 of sel*", "only `1 of`"),
            ("sel | count() by user > 5", "correlation rule"),
            ("a near b", "`near`"),
            ("sel*", "needs `1 of`"),
            ("1 of", "followed by"),
            ("and", "keyword"),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.0.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn glob_patterns_match_names() {
        assert!(glob_matches("sel*", "selection"));
        assert!(glob_matches("sel*", "sel"));
        assert!(glob_matches("*_deny", "okta_deny"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxcyyb"));
        assert!(!glob_matches("sel*", "filter"));
        assert!(glob_matches("exact", "exact"));
        assert!(
            !glob_matches("ab*ba", "aba"),
            "prefix and suffix may not overlap"
        );
        assert!(!glob_matches("a*é", "ab"), "no slicing inside a character");
        assert!(!glob_matches("a*b", "aé"));
        assert!(glob_matches("é*", "éa"));
    }
}

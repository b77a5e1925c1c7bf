//! The canary: secrets issued during a test must never show up in what the server logs
//! or what a client prints (except where printing one is the command's job).

use crate::harness::Printed;

/// One secret and the forms it could leak in.
pub struct Secret {
    pub what: String,
    pub kind: Kind,
    pub forms: Vec<String>,
}

pub enum Kind {
    /// A long random token: any occurrence is a leak.
    Text,
    /// A short all-digit code: a leak is a whole run of digits equal to it. A run right
    /// after a `.` is a fraction (the logs' microsecond timestamps, durations), which
    /// would otherwise match a 6-digit code about once in a million lines.
    Digits,
}

impl Secret {
    pub fn text(what: impl Into<String>, forms: impl IntoIterator<Item = String>) -> Self {
        let forms: Vec<String> = forms.into_iter().collect();
        assert!(
            forms.iter().all(|f| f.len() >= 16),
            "a text secret this short would match by chance"
        );
        Self {
            what: what.into(),
            kind: Kind::Text,
            forms,
        }
    }

    pub fn digits(what: impl Into<String>, code: &str) -> Self {
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()),
            "{code:?} is not a code"
        );
        Self {
            what: what.into(),
            kind: Kind::Digits,
            forms: vec![code.to_owned()],
        }
    }

    fn found_in(&self, text: &str) -> Option<usize> {
        self.forms.iter().find_map(|form| match self.kind {
            Kind::Text => text.find(form.as_str()),
            Kind::Digits => digit_run(text, form),
        })
    }
}

/// Where a maximal run of ASCII digits equal to `code`, not preceded by `.`, starts.
pub fn digit_run(text: &str, code: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if &text[start..i] == code && (start == 0 || bytes[start - 1] != b'.') {
            return Some(start);
        }
    }
    None
}

/// Panics naming every secret found in any printed text.
pub fn assert_nothing_leaks(secrets: &[Secret], printed: &[Printed]) {
    assert!(!printed.is_empty());
    let mut leaks = Vec::new();
    for p in printed {
        for s in secrets {
            if let Some(at) = s.found_in(&p.text) {
                let from = p.text.floor_char_boundary(at.saturating_sub(80));
                let to = p.text.ceil_char_boundary((at + 120).min(p.text.len()));
                leaks.push(format!(
                    "{} appears in {}: …{}…",
                    s.what,
                    p.what,
                    &p.text[from..to]
                ));
            }
        }
    }
    assert!(leaks.is_empty(), "secrets leaked:\n{}", leaks.join("\n"));
}

#[test]
fn digit_runs_match_whole_codes_only() {
    assert_eq!(digit_run("code=123456 ok", "123456"), Some(5));
    assert_eq!(digit_run("\"123456\"", "123456"), Some(1));
    assert_eq!(digit_run("1234567", "123456"), None);
    assert_eq!(digit_run("01234567", "123456"), None);
    assert_eq!(digit_run("12:00:00.123456Z", "123456"), None);
    assert_eq!(digit_run("ch_x123456y", "123456"), Some(4));
}

//! Where each node of a YAML document starts, by path (`controls[2].raci.accountable`).
//!
//! serde turns a document into typed values and forgets where they came from; this
//! index, built from the parser's events, lets a semantic problem found later (a
//! dangling reference, two accountable roles) point at its line and column.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser};

/// A 1-based line and column in a source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

impl Pos {
    /// This position, or the end of `text` when the parser placed it past the last
    /// line (libyaml reports an unexpected end of input one line further down).
    pub(crate) fn within(self, text: &str) -> Pos {
        let breaks =
            text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
        let last = breaks + 1;
        if self.line <= last {
            return self;
        }
        let tail = text.rsplit(['\n', '\r']).next().unwrap_or("");
        Pos {
            line: last,
            column: tail.chars().count() + 1,
        }
    }
}

/// One step of a path into a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// Renders steps the way messages show them: `exceptions[0].approved_by`.
pub(crate) fn render(steps: &[Step]) -> String {
    let mut out = String::new();
    for step in steps {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Step::Index(i) => {
                out.push('[');
                out.push_str(&i.to_string());
                out.push(']');
            }
        }
    }
    out
}

/// Positions of every key and sequence item of a document, by rendered path.
#[derive(Debug)]
pub(crate) struct PositionIndex {
    at: HashMap<String, Pos>,
    /// The end of the text: no position lies beyond it.
    end: Pos,
}

enum Frame {
    /// In a mapping: the key just read (waiting for its value), if any.
    Map(Option<String>),
    /// In a sequence: the index of the next item.
    Seq(usize),
}

impl PositionIndex {
    /// Indexes `text`; a document the parser refuses yields what was read before the
    /// error (serde reports the error itself).
    pub(crate) fn build(text: &str) -> Self {
        let mut index = Self {
            at: HashMap::new(),
            end: Pos {
                line: usize::MAX,
                column: 1,
            }
            .within(text),
        };
        let mut path: Vec<Step> = Vec::new();
        let mut stack: Vec<Frame> = Vec::new();
        let mut parser = Parser::new_from_str(text);
        while let Some(Ok((event, span))) = parser.next_event() {
            let pos = Pos {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            let starts_node = matches!(
                event,
                Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::MappingStart(..)
                    | Event::Alias(_)
            );
            if !starts_node {
                if matches!(event, Event::SequenceEnd | Event::MappingEnd) {
                    stack.pop();
                    Self::leave_value(&mut stack, &mut path);
                }
                continue;
            }
            // Is this node a mapping key?
            if let Some(Frame::Map(pending @ None)) = stack.last_mut() {
                if let Event::Scalar(key, ..) = &event {
                    *pending = Some(key.to_string());
                    path.push(Step::Key(key.to_string()));
                    index.at.entry(render(&path)).or_insert(pos);
                } else {
                    // A complex key: give it a placeholder so the value pairs up.
                    *pending = Some(String::new());
                    path.push(Step::Key(String::new()));
                    if matches!(event, Event::SequenceStart(..) | Event::MappingStart(..)) {
                        stack.push(Self::frame_for(&event));
                    }
                }
                continue;
            }
            if let Some(Frame::Seq(i)) = stack.last_mut() {
                path.push(Step::Index(*i));
                *i += 1;
                index.at.entry(render(&path)).or_insert(pos);
            }
            match event {
                Event::SequenceStart(..) | Event::MappingStart(..) => {
                    stack.push(Self::frame_for(&event));
                }
                _ => Self::leave_value(&mut stack, &mut path),
            }
        }
        index
    }

    fn frame_for(event: &Event<'_>) -> Frame {
        if matches!(event, Event::SequenceStart(..)) {
            Frame::Seq(0)
        } else {
            Frame::Map(None)
        }
    }

    /// A value just ended: drop its step and, in a mapping, wait for the next key.
    fn leave_value(stack: &mut [Frame], path: &mut Vec<Step>) {
        match stack.last_mut() {
            Some(Frame::Map(pending)) => {
                // A value ended: its key's step goes, and the mapping waits for a key.
                let had_key = pending.take().is_some();
                if had_key {
                    path.pop();
                }
            }
            Some(Frame::Seq(_)) => {
                path.pop();
            }
            None => {}
        }
    }

    /// The position of `path`, or of its nearest indexed ancestor.
    pub(crate) fn find(&self, path: &[Step]) -> Pos {
        let mut steps = path.to_vec();
        loop {
            if let Some(pos) = self.at.get(&render(&steps)) {
                return if pos.line > self.end.line {
                    self.end
                } else {
                    *pos
                };
            }
            if steps.pop().is_none() {
                return Pos { line: 1, column: 1 };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Step {
        Step::Key(k.into())
    }

    #[test]
    fn a_position_past_the_end_is_pulled_back_to_it() {
        let past = Pos { line: 2, column: 1 };
        assert_eq!(past.within("["), Pos { line: 1, column: 2 });
        assert_eq!(past.within("a\n"), past);
        assert_eq!(
            Pos { line: 9, column: 3 }.within("a\r\nbc"),
            Pos { line: 2, column: 3 }
        );
    }

    #[test]
    fn keys_and_items_are_found_by_path() {
        let text = "a: 1\nlist:\n  - id: x\n    refs: [p, q]\n  - id: y\nflow: {k: v}\n";
        let index = PositionIndex::build(text);
        assert_eq!(index.find(&[key("a")]), Pos { line: 1, column: 1 });
        assert_eq!(
            index.find(&[key("list"), Step::Index(1)]),
            Pos { line: 5, column: 5 }
        );
        assert_eq!(
            index.find(&[key("list"), Step::Index(0), key("refs"), Step::Index(1)]),
            Pos {
                line: 4,
                column: 15
            }
        );
        assert_eq!(
            index.find(&[key("list"), Step::Index(1), key("id")]),
            Pos { line: 5, column: 5 }
        );
        assert_eq!(
            index.find(&[key("flow"), key("k")]),
            Pos { line: 6, column: 8 }
        );
        // Unknown paths fall back to the nearest ancestor.
        assert_eq!(
            index.find(&[key("list"), Step::Index(0), key("nope")]),
            Pos { line: 3, column: 5 }
        );
    }
}

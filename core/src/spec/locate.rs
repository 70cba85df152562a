//! Field path → YAML line and column, for errors found after parsing. serde-saphyr gives a
//! location only for the error it stops at; semantic checks run on typed values, so we
//! index the document's paths once with the YAML event parser serde-saphyr re-exports.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Parser};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where each path (`spec.database.maxCapacity`, `spec.clients[1].scopes[0]`) is: the
/// position of its key (for mapping entries) or of its item (for sequence items).
#[derive(Debug, Default)]
pub struct PathIndex {
    positions: HashMap<String, Position>,
}

enum Frame {
    Map {
        path: String,
        key: Option<(String, Position)>,
    },
    Seq {
        path: String,
        next: usize,
    },
    /// Inside a complex key, which we do not index.
    Skip,
}

impl PathIndex {
    pub fn build(src: &str) -> PathIndex {
        let mut positions = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(src) {
            // Syntax errors are reported by the deserializer; index what parsed.
            let Ok((event, span)) = item else { break };
            let here = Position {
                line: span.start.line(),
                column: span.start.col() + 1,
            };
            if matches!(event, Event::MappingEnd | Event::SequenceEnd) {
                stack.pop();
                continue;
            }
            let container = matches!(event, Event::MappingStart(..) | Event::SequenceStart(..));
            if !(container || matches!(event, Event::Scalar(..) | Event::Alias(..))) {
                continue;
            }
            // Is this node a key, a value, or inside something we skip?
            match stack.last_mut() {
                Some(Frame::Skip) => {
                    if container {
                        stack.push(Frame::Skip);
                    }
                    continue;
                }
                Some(Frame::Map {
                    key: key @ None, ..
                }) => {
                    let name = match &event {
                        Event::Scalar(value, ..) => value.to_string(),
                        _ => "?".to_owned(),
                    };
                    *key = Some((name, here));
                    if container {
                        stack.push(Frame::Skip);
                    }
                    continue;
                }
                _ => {}
            }
            let (path, position) = match stack.last_mut() {
                None => (String::new(), here),
                Some(Frame::Map { path, key }) => {
                    let (name, at) = key.take().expect("a value follows its key");
                    (
                        if path.is_empty() {
                            name
                        } else {
                            format!("{path}.{name}")
                        },
                        at,
                    )
                }
                Some(Frame::Seq { path, next }) => {
                    *next += 1;
                    (format!("{path}[{}]", *next - 1), here)
                }
                Some(Frame::Skip) => unreachable!("handled above"),
            };
            positions.insert(path.clone(), position);
            match event {
                Event::MappingStart(..) => stack.push(Frame::Map { path, key: None }),
                Event::SequenceStart(..) => stack.push(Frame::Seq { path, next: 0 }),
                _ => {}
            }
        }
        PathIndex { positions }
    }

    /// The position of `path`, or of its nearest ancestor present in the document (a
    /// missing field is reported where its parent is).
    pub fn locate(&self, path: &str) -> Option<Position> {
        let mut p = path;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_nested_maps_and_sequences() {
        let src = "spec:\n  database:\n    maxCapacity: 4\n  clients:\n    - name: a\n      scopes: [read, write]\n    - name: b\n";
        let idx = PathIndex::build(src);
        assert_eq!(
            idx.locate("spec.database.maxCapacity"),
            Some(Position { line: 3, column: 5 })
        );
        assert_eq!(
            idx.locate("spec.clients[1].name"),
            Some(Position { line: 7, column: 7 })
        );
        assert_eq!(
            idx.locate("spec.clients[0].scopes[1]"),
            Some(Position {
                line: 6,
                column: 22
            })
        );
        // Missing fields fall back to the nearest ancestor.
        assert_eq!(
            idx.locate("spec.database.minCapacity"),
            Some(Position { line: 2, column: 3 })
        );
    }
}

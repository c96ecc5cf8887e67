//! VOLTTRON-flavoured JSON: `#` and `//` line comments, `/* */` block comments and trailing
//! commas are accepted, as VOLTTRON's config store accepts them.
//!
//! The pre-pass replaces comments and trailing commas with spaces (newlines kept), so serde_json
//! reports the line and column of the original file. A second scan records the line of every
//! key, so semantic errors (wrong driver_type, unset env var) can name their line too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Position, RegistryError};

/// A parsed JSON config with the line of each key, addressed by JSON pointer (`/a/0/b`).
#[derive(Debug, Clone)]
pub(crate) struct JsonDoc {
    pub(crate) value: Value,
    pub(crate) path: PathBuf,
    lines: HashMap<String, u64>,
}

impl JsonDoc {
    /// Parses `text` (the contents of `path`).
    pub(crate) fn parse(text: &str, path: &Path) -> Result<JsonDoc, RegistryError> {
        // Editors on Windows start files with a byte-order mark; JSON does not allow one.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(RegistryError::Json {
                pos: Position::new(path, 1),
                column: 1,
                message: "the file is empty (expected a JSON object)".to_string(),
            });
        }
        let (uncommented, unterminated) = remove_comments(text);
        if let Some((line, column)) = unterminated {
            return Err(RegistryError::Json {
                pos: Position::new(path, line),
                column,
                message: "a /* comment is never closed (it runs to the end of the file): \
                          close it with */"
                    .to_string(),
            });
        }
        let clean = remove_trailing_commas(&uncommented);
        let value: Value = serde_json::from_str(&clean).map_err(|e| RegistryError::Json {
            pos: Position::new(path, e.line() as u64),
            column: e.column() as u64,
            message: json_message(&e),
        })?;
        Ok(JsonDoc {
            value,
            path: path.to_path_buf(),
            lines: key_lines(&clean),
        })
    }

    /// Where the value at `pointer` is written; the nearest enclosing key's line when the
    /// pointer itself is absent (a missing key is reported at its object), else line 1.
    pub(crate) fn pos(&self, pointer: &str) -> Position {
        let mut p = pointer;
        loop {
            if let Some(&line) = self.lines.get(p) {
                return Position::new(&self.path, line);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Position::new(&self.path, 1),
            }
        }
    }
}

/// serde_json's message without its own " at line L column C" suffix (the position is data),
/// and in words a user can act on where serde_json's are terse ("EOF while parsing an object").
fn json_message(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => &full,
    };
    match message {
        "EOF while parsing an object" => {
            "the file ends inside an object: a closing '}' is missing".to_string()
        }
        "EOF while parsing a list" => {
            "the file ends inside a list: a closing ']' is missing".to_string()
        }
        "EOF while parsing a string" => {
            "the file ends inside a string: a closing '\"' is missing".to_string()
        }
        "EOF while parsing a value" => "the file ends where a value was expected".to_string(),
        "expected value" => "expected a JSON value (an object, list, string, number, true, \
                             false or null)"
            .to_string(),
        other => other.to_string(),
    }
}

/// Replaces comments and trailing commas with spaces, keeping every newline.
#[cfg(test)]
pub(crate) fn strip(text: &str) -> String {
    remove_trailing_commas(&remove_comments(text).0)
}

/// Replaces comments with spaces, keeping every newline. Also returns where a `/*` comment
/// that is never closed starts (line, column), if one is.
fn remove_comments(text: &str) -> (String, Option<(u64, u64)>) {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut unterminated = None;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                copy_string_rest(&mut chars, &mut out);
            }
            '#' => blank_line_comment(&mut chars, &mut out),
            '/' if chars.peek() == Some(&'/') => blank_line_comment(&mut chars, &mut out),
            '/' if chars.peek() == Some(&'*') => {
                let start = out.len();
                chars.next();
                out.push_str("  ");
                let mut prev = '\0';
                let mut closed = false;
                for c in chars.by_ref() {
                    out.push(if c == '\n' { '\n' } else { ' ' });
                    if prev == '*' && c == '/' {
                        closed = true;
                        break;
                    }
                    prev = c;
                }
                if !closed {
                    let before = &out[..start];
                    let line = before.matches('\n').count() as u64 + 1;
                    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count());
                    unterminated = Some((line, column as u64 + 1));
                }
            }
            _ => out.push(c),
        }
    }
    (out, unterminated)
}

/// Copies the rest of a string literal (after its opening quote), escapes included.
fn copy_string_rest(chars: &mut impl Iterator<Item = char>, out: &mut String) {
    let mut escaped = false;
    for c in chars.by_ref() {
        out.push(c);
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return,
            // An unterminated string: serde_json will report it; stop at the line end.
            '\n' => return,
            _ => {}
        }
    }
}

fn blank_line_comment(
    chars: &mut std::iter::Peekable<impl Iterator<Item = char>>,
    out: &mut String,
) {
    out.push(' ');
    while let Some(&c) = chars.peek() {
        if c == '\n' {
            return;
        }
        out.push(' ');
        chars.next();
    }
}

fn remove_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                out.push(c);
                i += 1;
                let mut escaped = false;
                while i < chars.len() {
                    let s = chars[i];
                    out.push(s);
                    i += 1;
                    match s {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' | '\n' => break,
                        _ => {}
                    }
                }
                continue;
            }
            ',' => {
                let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
                out.push(if matches!(next, Some('}' | ']')) {
                    ' '
                } else {
                    ','
                });
            }
            _ => out.push(c),
        }
        i += 1;
    }
    out
}

enum Frame {
    Object { key: Option<String> },
    Array { index: usize },
}

fn pointer(stack: &[Frame]) -> String {
    let mut p = String::new();
    for f in stack {
        match f {
            Frame::Object { key: Some(k) } => {
                p.push('/');
                p.push_str(k);
            }
            Frame::Object { key: None } => {}
            Frame::Array { index } => {
                p.push('/');
                p.push_str(&index.to_string());
            }
        }
    }
    p
}

/// The line of every key and array element of comment-free JSON text, by JSON pointer.
fn key_lines(text: &str) -> HashMap<String, u64> {
    let mut lines = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut line = 1u64;
    let mut expect_key = false;
    let mut element_pending = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\n' {
            line += 1;
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if element_pending && c != ']' {
            lines.insert(pointer(&stack), line);
        }
        element_pending = false;
        match c {
            '"' => {
                let mut raw = String::from('"');
                copy_string_rest(&mut chars, &mut raw);
                if raw.ends_with('\n') {
                    line += 1;
                }
                if expect_key {
                    let key = serde_json::from_str::<String>(&raw)
                        .unwrap_or_else(|_| raw.trim_matches('"').to_string());
                    if let Some(Frame::Object { key: k }) = stack.last_mut() {
                        *k = Some(key);
                    }
                    lines.insert(pointer(&stack), line);
                    expect_key = false;
                }
            }
            '{' => {
                stack.push(Frame::Object { key: None });
                expect_key = true;
            }
            '[' => {
                stack.push(Frame::Array { index: 0 });
                element_pending = true;
            }
            '}' | ']' => {
                stack.pop();
                expect_key = false;
            }
            ',' => match stack.last_mut() {
                Some(Frame::Object { .. }) => expect_key = true,
                Some(Frame::Array { index }) => {
                    *index += 1;
                    element_pending = true;
                }
                None => {}
            },
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Result<JsonDoc, RegistryError> {
        JsonDoc::parse(text, Path::new("dev.config"))
    }

    #[test]
    fn comments_and_trailing_commas_are_accepted_but_not_inside_strings() {
        let d = doc(
            "{\n  # a comment\n  \"url\": \"http://x/#y\", // trailing\n  \"a\": [1, 2,],\n  /* block\n */ \"b\": {\"c\": \"d,}\",},\n}\n",
        )
        .unwrap();
        assert_eq!(
            d.value,
            serde_json::json!({"url": "http://x/#y", "a": [1, 2], "b": {"c": "d,}"}})
        );
        assert_eq!(d.pos("/url").line, 3);
        assert_eq!(d.pos("/a/1").line, 4);
        assert_eq!(d.pos("/b/c").line, 6);
        assert_eq!(d.pos("/b/missing").line, 6);
    }

    proptest::proptest! {
        #[test]
        fn strings_survive_the_pre_pass_whatever_they_hold(s in "\\PC*|[#/*,\\]}\\\\\" ]*") {
            let quoted = serde_json::to_string(&s).expect("a string serialises");
            let text = format!("# head\n{{\"k\": {quoted}, // tail\n \"a\": [1, {quoted},],}}\n");
            let d = doc(&text).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            proptest::prop_assert_eq!(d.value, serde_json::json!({"k": s.clone(), "a": [1, s]}));
            proptest::prop_assert_eq!(strip(&text).lines().count(), text.lines().count());
        }
    }

    #[test]
    fn byte_order_mark_and_crlf_line_ends_are_accepted() {
        let d = doc("\u{feff}{\r\n  \"a\": 1,\r\n  \"b\": 2,\r\n}\r\n").unwrap();
        assert_eq!(d.value, serde_json::json!({"a": 1, "b": 2}));
        assert_eq!(d.pos("/b").line, 3);
    }

    #[test]
    fn json_errors_name_the_original_line_and_column() {
        let e = doc("{\n  // comment\n  \"a\": 1\n  \"b\": 2\n}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "dev.config:4:3: invalid JSON: expected `,` or `}`"
        );
    }
}

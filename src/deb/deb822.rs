//! deb822, the format of `debian/control`, a `.deb`'s `control` file and apt's indexes:
//! paragraphs separated by blank lines, `Name: value` fields, continuation lines starting
//! with a space or tab, `#` comment lines (allowed in `debian/control`, never written
//! by dpkg, so harmless elsewhere).

use std::fmt;

/// One field: its name as written and its value; continuation lines are kept verbatim
/// after a `\n` (each still starts with its space), trailing blanks removed.
pub type Field = (String, String);

/// A paragraph's fields in file order.
pub type Paragraph = Vec<Field>;

/// Why a text is not deb822; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// Every paragraph of `text`.
pub fn parse(text: &str) -> Result<Vec<Paragraph>, SyntaxError> {
    let mut paragraphs = Vec::new();
    let mut current: Paragraph = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let bad = |reason: String| SyntaxError {
            line: i + 1,
            reason,
        };
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = current.last_mut() else {
                return Err(bad("continuation line without a field".into()));
            };
            value.push('\n');
            value.push_str(line.trim_end());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad(format!("expected `Field: value`, got {line:?}")));
        };
        // deb822(5): printable ASCII but `:`, not starting with `-`.
        let valid = !name.is_empty()
            && !name.starts_with('-')
            && name.bytes().all(|b| (b'!'..=b'~').contains(&b));
        if !valid {
            return Err(bad(format!("invalid field name {name:?}")));
        }
        if get(&current, name).is_some() {
            return Err(bad(format!("field {name} appears twice in one paragraph")));
        }
        current.push((name.to_string(), value.trim().to_string()));
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    Ok(paragraphs)
}

/// The one paragraph of `text` (a binary package's `control`, a Packages stanza).
pub fn parse_one(text: &str) -> Result<Paragraph, SyntaxError> {
    let mut paragraphs = parse(text)?;
    match paragraphs.len() {
        1 => Ok(paragraphs.remove(0)),
        n => Err(SyntaxError {
            line: 1,
            reason: format!("expected one paragraph, found {n}"),
        }),
    }
}

/// The value of a field; names compare without regard to case, as deb822 says.
pub fn get<'p>(paragraph: &'p [Field], name: &str) -> Option<&'p str> {
    paragraph
        .iter()
        .find(|(f, _)| f.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Writes `Name: value` lines (a multi-line value starting with a line break gets no space
/// after the colon, as dpkg writes `Description:` continuations).
pub fn write_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    if !value.starts_with('\n') {
        out.push(' ');
    }
    out.push_str(value);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_keep_order_continuations_and_skip_comments() {
        let text = "# comment\nSource: a\n\n\nPackage: a\nDescription: short\n long\n .\n more  \nX-Y:  z \n";
        let paragraphs = parse(text).unwrap();
        assert_eq!(paragraphs.len(), 2);
        assert_eq!(
            paragraphs[1],
            vec![
                ("Package".to_string(), "a".to_string()),
                ("Description".into(), "short\n long\n .\n more".into()),
                ("X-Y".into(), "z".into()),
            ]
        );
        assert_eq!(get(&paragraphs[1], "x-y"), Some("z"));
        assert_eq!(parse_one("\nPackage: a\n\n").unwrap().len(), 1);
    }

    #[test]
    fn malformed_text_is_refused_with_its_line() {
        for (text, line) in [
            (" lead\n", 1),
            ("A: 1\na: 2\n", 2),
            ("A: 1\nnocolon\n", 2),
            ("-A: 1\n", 1),
            ("A B: 1\n", 1),
        ] {
            assert_eq!(parse(text).unwrap_err().line, line, "{text:?}");
        }
        assert!(parse_one("A: 1\n\nB: 2\n").is_err());
        assert!(parse_one("\n").is_err());
    }

    #[test]
    fn fields_are_written_back_as_read() {
        let mut out = String::new();
        for (name, value) in parse_one("Package: a\nDescription: short\n long\n").unwrap() {
            write_field(&mut out, &name, &value);
        }
        assert_eq!(out, "Package: a\nDescription: short\n long\n");
    }
}

//! The simulated containers' `sh -c` language: words with quotes, escapes and `$VAR`, commands
//! joined by `;`, `&&`, `||` and newlines, pipelines with `|`, and `>` / `>>` redirections.
//! Enough for what people type into `kubectl exec` and for `kubectl cp`'s commands; parsing is
//! bounded by [`MAX_SCRIPT`].

/// The longest script accepted.
pub const MAX_SCRIPT: usize = 64 * 1024;

/// How a command list continues after one pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    /// `;` or a newline: always.
    Then,
    /// `&&`: when it succeeded.
    And,
    /// `||`: when it failed.
    Or,
}

/// One command of a pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// The words.
    pub argv: Vec<String>,
    /// `> file` (false) or `>> file` (true).
    pub stdout_to: Option<(String, bool)>,
    /// `>&2`: stdout goes to stderr.
    pub to_stderr: bool,
}

/// A pipeline and how the next one is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// `a | b | c`.
    pub pipeline: Vec<Command>,
    /// How to go on to the next step.
    pub then: Join,
}

/// Why a script did not parse (words as `sh` says them).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Quotes left open.
    #[error("syntax error: unterminated quoted string")]
    Unterminated,
    /// An operator where a command should be.
    #[error("syntax error: unexpected \"{0}\"")]
    Unexpected(String),
    /// Too long.
    #[error("script too long")]
    TooLong,
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Op(&'static str),
}

fn lex(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Tok>, ParseError> {
    if s.len() > MAX_SCRIPT {
        return Err(ParseError::TooLong);
    }
    let mut toks = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars().peekable();
    let var = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String| {
        let mut name = String::new();
        let braced = chars.peek() == Some(&'{');
        if braced {
            chars.next();
        }
        while let Some(&c) = chars.peek() {
            if braced && c == '}' {
                chars.next();
                break;
            }
            if c.is_ascii_alphanumeric() || c == '_' {
                name.push(c);
                chars.next();
            } else {
                break;
            }
        }
        if name.is_empty() && !braced {
            out.push('$');
        } else {
            out.push_str(&env(&name).unwrap_or_default());
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(ParseError::Unterminated),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(ParseError::Unterminated),
                        },
                        Some('$') => var(&mut chars, &mut cur),
                        Some(c) => cur.push(c),
                        None => return Err(ParseError::Unterminated),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next()
                    && c != '\n'
                {
                    cur.push(c);
                }
            }
            '$' => {
                in_word = true;
                var(&mut chars, &mut cur);
            }
            ' ' | '\t' | '\n' | ';' | '|' | '&' | '>' => {
                if in_word {
                    toks.push(Tok::Word(std::mem::take(&mut cur)));
                    in_word = false;
                }
                let op = match c {
                    '\n' | ';' => Some(";"),
                    '|' if chars.peek() == Some(&'|') => {
                        chars.next();
                        Some("||")
                    }
                    '|' => Some("|"),
                    '&' if chars.peek() == Some(&'&') => {
                        chars.next();
                        Some("&&")
                    }
                    '&' => return Err(ParseError::Unexpected("&".into())),
                    '>' if chars.peek() == Some(&'&') => {
                        chars.next();
                        match chars.next() {
                            Some('2') => Some(">&2"),
                            Some('1') => None,
                            _ => return Err(ParseError::Unexpected(">&".into())),
                        }
                    }
                    '>' if chars.peek() == Some(&'>') => {
                        chars.next();
                        Some(">>")
                    }
                    '>' => Some(">"),
                    _ => None,
                };
                if let Some(op) = op {
                    toks.push(Tok::Op(op));
                }
            }
            '#' if !in_word => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        toks.push(Tok::Op(";"));
                        break;
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        toks.push(Tok::Word(cur));
    }
    Ok(toks)
}

/// Parse `script`, expanding `$NAME` with `env`.
pub fn parse(script: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Step>, ParseError> {
    let mut steps = Vec::new();
    let mut pipeline: Vec<Command> = Vec::new();
    let mut cmd = Command::default();
    let mut toks = lex(script, env)?.into_iter().peekable();
    while let Some(t) = toks.next() {
        match t {
            Tok::Word(w) => cmd.argv.push(w),
            Tok::Op(">&2") => cmd.to_stderr = true,
            Tok::Op(op @ (">" | ">>")) => match toks.next() {
                Some(Tok::Word(f)) => cmd.stdout_to = Some((f, op == ">>")),
                _ => return Err(ParseError::Unexpected("newline".into())),
            },
            Tok::Op("|") => {
                if cmd.argv.is_empty() {
                    return Err(ParseError::Unexpected("|".into()));
                }
                pipeline.push(std::mem::take(&mut cmd));
            }
            Tok::Op(op) => {
                if cmd.argv.is_empty() {
                    if op == ";" && pipeline.is_empty() {
                        continue;
                    }
                    return Err(ParseError::Unexpected(op.into()));
                }
                pipeline.push(std::mem::take(&mut cmd));
                let then = match op {
                    "&&" => Join::And,
                    "||" => Join::Or,
                    _ => Join::Then,
                };
                steps.push(Step {
                    pipeline: std::mem::take(&mut pipeline),
                    then,
                });
            }
        }
    }
    if !cmd.argv.is_empty() {
        pipeline.push(cmd);
    } else if !pipeline.is_empty() {
        return Err(ParseError::Unexpected("end of file".into()));
    }
    if !pipeline.is_empty() {
        steps.push(Step {
            pipeline,
            then: Join::Then,
        });
    }
    Ok(steps)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "HOME").then(|| "/root".to_string())
    }

    #[test]
    fn scripts_parse_into_steps_and_pipelines() {
        let s = parse(
            "echo 'a b' \"$HOME/x\" && false || echo ok; tar cf - /tmp | tail -c+3 > /tmp/o",
            &env,
        )
        .unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].pipeline[0].argv, vec!["echo", "a b", "/root/x"]);
        assert_eq!(s[0].then, Join::And);
        assert_eq!(s[1].then, Join::Or);
        assert_eq!(s[3].pipeline.len(), 2);
        assert_eq!(s[3].pipeline[1].stdout_to, Some(("/tmp/o".into(), false)));
        assert_eq!(parse("echo 'x", &env), Err(ParseError::Unterminated));
        assert_eq!(parse("| x", &env), Err(ParseError::Unexpected("|".into())));
        assert_eq!(parse("a &", &env), Err(ParseError::Unexpected("&".into())));
        assert!(parse(&"x".repeat(MAX_SCRIPT + 1), &env).is_err());
        assert!(parse("echo e >&2", &env).unwrap()[0].pipeline[0].to_stderr);
        assert_eq!(
            parse("echo a\\ b # c", &env).unwrap()[0].pipeline[0].argv,
            vec!["echo", "a b"]
        );
    }
}

//! `--env-file FILE`: the `KEY=value` lines of `cceonectl cluster register --format env`, read
//! as `env $(cat FILE)` and `set -a; . FILE` read them, so one file serves all three. Hand-written
//! files may also carry comments, blank lines, `export ` and one pair of quotes around a value.
//! Values are one line; errors name the line, never its value (it may be the token).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::Env;

/// The variables of one env file.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    vars: BTreeMap<String, String>,
}

/// Why an env file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnvFileError {
    /// The file could not be read.
    #[error("reading {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A line is not `KEY=value`.
    #[error("{}: line {line}: {reason}", path.display())]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong (never the value).
        reason: &'static str,
    },
}

impl EnvFile {
    /// Read and parse `path`.
    pub fn read(path: &Path) -> Result<EnvFile, EnvFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| EnvFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        EnvFile::parse(&text).map_err(|(line, reason)| EnvFileError::Line {
            path: path.to_path_buf(),
            line,
            reason,
        })
    }

    /// Parse the text of an env file; on error the 1-based line and what is wrong with it.
    pub fn parse(text: &str) -> Result<EnvFile, (usize, &'static str)> {
        let mut vars = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line
                .strip_prefix("export")
                .filter(|rest| rest.starts_with([' ', '\t']))
                .map_or(line, str::trim_start);
            let (key, value) = line.split_once('=').ok_or((i + 1, "expected KEY=value"))?;
            let valid_key = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_key {
                return Err((i + 1, "the name before '=' is not a variable name"));
            }
            vars.insert(
                key.to_string(),
                unquote(value).ok_or((i + 1, "unmatched quote"))?,
            );
        }
        Ok(EnvFile { vars })
    }

    /// The variable names, sorted (for diagnostics; values stay private).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }
}

/// One pair of matching quotes around the whole value removed; None when a quote is left open.
fn unquote(value: &str) -> Option<String> {
    let value = value.trim();
    for q in ['"', '\''] {
        if let Some(rest) = value.strip_prefix(q) {
            return rest.strip_suffix(q).map(str::to_string);
        }
    }
    Some(value.to_string())
}

impl Env for EnvFile {
    fn get(&self, key: &str) -> Option<String> {
        self.vars.get(key).cloned()
    }
}

impl std::fmt::Debug for EnvFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvFile")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish()
    }
}

/// Two sources, `over` first: a variable set (non-blank) there hides the same one in `under`.
/// The agent layers the process environment over `--env-file`, as `docker run -e` overrides
/// `--env-file`.
#[derive(Debug, Clone)]
pub struct Layered<A, B> {
    /// Consulted first.
    pub over: A,
    /// Consulted when `over` has no non-blank value.
    pub under: B,
}

impl<A: Env, B: Env> Env for Layered<A, B> {
    fn get(&self, key: &str) -> Option<String> {
        self.over
            .get(key)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| self.under.get(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rendered_and_hand_written_lines() {
        let text = "\
# written by hand
CCEONE_HUB_ENDPOINT=hub.example.com:9443

export CCEONE_CLUSTER_NAME=edge
CCEONE_HUB_CA_BASE64=LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
CCEONE_TRANSPORT=\"grpc\"
CCEONE_BOOTSTRAP_TOKEN='abcdef.0123456789abcdef'
CCEONE_AGENT_ID=
exported_not=1
CCEONE_TRANSPORT=quic
";
        let f = EnvFile::parse(text).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            f.get("CCEONE_HUB_ENDPOINT").as_deref(),
            Some("hub.example.com:9443")
        );
        assert_eq!(f.get("CCEONE_CLUSTER_NAME").as_deref(), Some("edge"));
        assert_eq!(
            f.get("CCEONE_HUB_CA_BASE64").as_deref(),
            Some("LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==")
        );
        assert_eq!(
            f.get("CCEONE_BOOTSTRAP_TOKEN").as_deref(),
            Some("abcdef.0123456789abcdef")
        );
        assert_eq!(f.get("CCEONE_AGENT_ID").as_deref(), Some(""));
        assert_eq!(f.get("exported_not").as_deref(), Some("1"));
        assert_eq!(
            f.get("CCEONE_TRANSPORT").as_deref(),
            Some("quic"),
            "last wins"
        );
        let dbg = format!("{f:?}");
        assert!(!dbg.contains("0123456789abcdef"), "{dbg}");
    }

    #[test]
    fn bad_lines_are_named_by_number() {
        for (text, line) in [
            ("A=1\njust words\n", 2),
            ("A=1\n\n1A=2\n", 3),
            ("BAD KEY=1\n", 1),
            ("=1\n", 1),
            ("A=\"open\n", 1),
            ("# c\nA='x\"\n", 2),
        ] {
            match EnvFile::parse(text) {
                Err((l, _)) => assert_eq!(l, line, "{text:?}"),
                Ok(f) => panic!("{text:?} parsed: {f:?}"),
            }
        }
    }

    #[test]
    fn the_process_environment_wins_unless_blank() {
        let over: BTreeMap<&str, &str> = [("A", "env"), ("B", " ")].into();
        let under = EnvFile::parse("A=file\nB=file\nC=file\n").unwrap_or_default();
        let env = Layered { over, under };
        assert_eq!(env.get("A").as_deref(), Some("env"));
        assert_eq!(env.get("B").as_deref(), Some("file"));
        assert_eq!(env.get("C").as_deref(), Some("file"));
        assert_eq!(env.get("D"), None);
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let e = EnvFile::read(Path::new("/nonexistent/edge.env")).err();
        assert!(
            e.is_some_and(|e| e.to_string().contains("/nonexistent/edge.env")),
            "no error naming the path"
        );
    }
}

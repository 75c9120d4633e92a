//! A container's in-memory filesystem: what `cat`, `ls`, `test` and `tar` (so `kubectl cp`)
//! see inside a simulated container. Bounded in total bytes and entries.

use std::collections::BTreeMap;

/// Most bytes of file content one container holds.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Most files and directories one container holds.
pub const MAX_ENTRIES: usize = 10_000;

/// A file or a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A directory.
    Dir,
    /// A regular file and its mode.
    File {
        /// Content.
        data: Vec<u8>,
        /// Permission bits.
        mode: u32,
    },
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FsError {
    /// The container's filesystem is full.
    #[error("No space left on device")]
    Full,
    /// A path component is a file.
    #[error("Not a directory")]
    NotADirectory,
    /// The path is a directory.
    #[error("Is a directory")]
    IsADirectory,
    /// No such path.
    #[error("No such file or directory")]
    NotFound,
}

/// The files of one container, by absolute normalised path.
#[derive(Debug, Clone)]
pub struct Fs {
    entries: BTreeMap<String, Entry>,
    bytes: usize,
}

/// `p` made absolute against `cwd` with `.`, `..` and repeated slashes resolved.
pub fn normalise(cwd: &str, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{cwd}/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

fn parent(p: &str) -> Option<&str> {
    if p == "/" {
        return None;
    }
    Some(match p.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &p[..i],
    })
}

impl Fs {
    /// A fresh container's files: `/etc/hostname`, `/etc/hosts`, `/etc/os-release`,
    /// `/etc/resolv.conf`, and empty `/tmp`, `/root`, `/var/log`.
    pub fn seeded(hostname: &str, namespace: &str, ip: &str) -> Fs {
        let mut fs = Fs {
            entries: BTreeMap::new(),
            bytes: 0,
        };
        for d in ["/", "/etc", "/tmp", "/root", "/var", "/var/log", "/bin"] {
            fs.entries.insert(d.to_string(), Entry::Dir);
        }
        let files = [
            ("/etc/hostname", format!("{hostname}\n")),
            (
                "/etc/hosts",
                format!(
                    "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{ip}\t{hostname}\n"
                ),
            ),
            (
                "/etc/os-release",
                "NAME=\"cceone-kubesim\"\nID=kubesim\nPRETTY_NAME=\"cceone simulated container\"\n"
                    .to_string(),
            ),
            (
                "/etc/resolv.conf",
                format!(
                    "search {namespace}.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
                ),
            ),
        ];
        for (p, c) in files {
            let _ = fs.write(p, c.into_bytes(), 0o644);
        }
        fs
    }

    /// What is at `path`.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Create `path` and its parents as directories.
    pub fn mkdir_all(&mut self, path: &str) -> Result<(), FsError> {
        if let Some(p) = parent(path) {
            self.mkdir_all(p)?;
        }
        match self.entries.get(path) {
            Some(Entry::Dir) => Ok(()),
            Some(Entry::File { .. }) => Err(FsError::NotADirectory),
            None => {
                if self.entries.len() >= MAX_ENTRIES {
                    return Err(FsError::Full);
                }
                self.entries.insert(path.to_string(), Entry::Dir);
                Ok(())
            }
        }
    }

    /// Write a whole file, creating its parent directories.
    pub fn write(&mut self, path: &str, data: Vec<u8>, mode: u32) -> Result<(), FsError> {
        if let Some(p) = parent(path) {
            self.mkdir_all(p)?;
        }
        let old = match self.entries.get(path) {
            Some(Entry::Dir) => return Err(FsError::IsADirectory),
            Some(Entry::File { data, .. }) => data.len(),
            None => 0,
        };
        if self.bytes - old + data.len() > MAX_BYTES
            || (old == 0 && self.entries.len() >= MAX_ENTRIES)
        {
            return Err(FsError::Full);
        }
        self.bytes = self.bytes - old + data.len();
        self.entries
            .insert(path.to_string(), Entry::File { data, mode });
        Ok(())
    }

    /// `path` and everything under it, in path order.
    pub fn walk(&self, path: &str) -> Vec<(&str, &Entry)> {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        self.entries
            .range(path.to_string()..)
            .take_while(|(k, _)| k.as_str() == path || k.starts_with(&prefix))
            .filter(|(k, _)| k.as_str() == path || k.starts_with(&prefix))
            .map(|(k, v)| (k.as_str(), v))
            .collect()
    }

    /// The names directly inside directory `path`.
    pub fn list(&self, path: &str) -> Vec<String> {
        self.walk(path)
            .into_iter()
            .filter_map(|(k, _)| {
                let rest = k.strip_prefix(path)?.trim_start_matches('/');
                (!rest.is_empty() && !rest.contains('/')).then(|| rest.to_string())
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_and_writes_make_parents_within_limits() {
        assert_eq!(normalise("/", "tmp/../etc//hosts"), "/etc/hosts");
        assert_eq!(normalise("/root", "a/./b"), "/root/a/b");
        assert_eq!(normalise("/", "../.."), "/");
        let mut fs = Fs::seeded("web-0", "default", "10.0.0.5");
        fs.write("/tmp/a/b/c.txt", b"x".to_vec(), 0o600).unwrap();
        assert_eq!(fs.get("/tmp/a/b"), Some(&Entry::Dir));
        assert_eq!(fs.list("/tmp/a"), vec!["b".to_string()]);
        assert_eq!(
            fs.write("/tmp/a/b/c.txt/d", vec![], 0o600),
            Err(FsError::NotADirectory)
        );
        assert_eq!(fs.write("/tmp", vec![], 0o600), Err(FsError::IsADirectory));
        assert_eq!(
            fs.write("/tmp/big", vec![0; MAX_BYTES + 1], 0o600),
            Err(FsError::Full)
        );
    }
}

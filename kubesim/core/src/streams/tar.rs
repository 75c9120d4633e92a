//! The tar archives `kubectl cp` sends and expects (ustar, with GNU long names and PAX `path`
//! records read): written from and read into a container's [`Fs`]. Reading is bounded by the
//! filesystem's own limits and never trusts a size beyond the bytes present.

use super::fs::{Entry, Fs, FsError, normalise};

/// Why an archive could not be read or applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TarError {
    /// The archive is damaged or truncated.
    #[error("This does not look like a tar archive")]
    Malformed,
    /// Writing a member failed.
    #[error("{path}: Cannot open: {source}")]
    Write {
        /// Which member.
        path: String,
        /// Why.
        #[source]
        source: FsError,
    },
    /// The source does not exist.
    #[error("{0}: Cannot stat: No such file or directory")]
    NotFound(String),
}

fn octal(field: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(s, 8).ok()
}

fn cstr(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

fn header(name: &str, size: usize, mode: u32, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    let put = |h: &mut [u8; 512], at: usize, width: usize, s: &str| {
        let b = s.as_bytes();
        let n = b.len().min(width);
        h[at..at + n].copy_from_slice(&b[..n]);
    };
    put(&mut h, 0, 100, name);
    put(&mut h, 100, 8, &format!("{mode:07o}"));
    put(&mut h, 108, 8, "0000000");
    put(&mut h, 116, 8, "0000000");
    put(&mut h, 124, 12, &format!("{size:011o}"));
    put(&mut h, 136, 12, "00000000000");
    h[156] = kind;
    put(&mut h, 257, 6, "ustar");
    put(&mut h, 263, 2, "00");
    put(&mut h, 265, 32, "root");
    put(&mut h, 297, 32, "root");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    put(&mut h, 148, 8, &format!("{sum:06o}\0 "));
    h
}

fn pad(out: &mut Vec<u8>) {
    let rem = out.len() % 512;
    if rem != 0 {
        out.resize(out.len() + 512 - rem, 0);
    }
}

fn member(out: &mut Vec<u8>, name: &str, data: &[u8], mode: u32, kind: u8) {
    if name.len() > 100 {
        // GNU long name: a `././@LongLink` member carrying the name.
        let mut long = name.as_bytes().to_vec();
        long.push(0);
        out.extend_from_slice(&header("././@LongLink", long.len(), 0o644, b'L'));
        out.extend_from_slice(&long);
        pad(out);
    }
    out.extend_from_slice(&header(name, data.len(), mode, kind));
    out.extend_from_slice(data);
    pad(out);
}

/// `tar cf - <path>` run in `cwd`: members named as GNU tar names them (the leading `/`
/// removed), directories recursively.
pub fn create(fs: &Fs, cwd: &str, path: &str) -> Result<Vec<u8>, TarError> {
    let abs = normalise(cwd, path);
    if fs.get(&abs).is_none() {
        return Err(TarError::NotFound(path.to_string()));
    }
    let strip = |p: &str| -> String {
        if path.starts_with('/') {
            p.trim_start_matches('/').to_string()
        } else {
            // A relative operand keeps its relative spelling.
            let rel = p.strip_prefix(&abs).unwrap_or("");
            format!("{}{rel}", path.trim_end_matches('/'))
        }
    };
    let mut out = Vec::new();
    for (p, e) in fs.walk(&abs) {
        match e {
            Entry::Dir => member(&mut out, &format!("{}/", strip(p)), &[], 0o755, b'5'),
            Entry::File { data, mode } => member(&mut out, &strip(p), data, *mode, b'0'),
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    Ok(out)
}

/// `tar xf - -C <dir>`: apply `archive` under `dir`; the names of the members written.
pub fn extract(fs: &mut Fs, dir: &str, archive: &[u8]) -> Result<Vec<String>, TarError> {
    let mut at = 0usize;
    let mut long_name: Option<String> = None;
    let mut written = Vec::new();
    loop {
        if at == archive.len() {
            break;
        }
        let h = archive.get(at..at + 512).ok_or(TarError::Malformed)?;
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let size = octal(&h[124..136]).ok_or(TarError::Malformed)? as usize;
        let start = at + 512;
        let end = start.checked_add(size).ok_or(TarError::Malformed)?;
        let data = archive.get(start..end).ok_or(TarError::Malformed)?;
        at = start + size.div_ceil(512) * 512;
        let kind = h[156];
        let mut name = cstr(&h[0..100]);
        let prefix = cstr(&h[345..500]);
        if &h[257..262] == b"ustar" && !prefix.is_empty() && h[262] == 0 {
            name = format!("{prefix}/{name}");
        }
        match kind {
            b'L' => {
                long_name = Some(cstr(data));
                continue;
            }
            b'x' => {
                long_name = pax_path(data).or(long_name);
                continue;
            }
            b'g' => continue,
            _ => {}
        }
        let name = long_name.take().unwrap_or(name);
        let mode = octal(&h[100..108]).unwrap_or(0o644) as u32 & 0o7777;
        let target = normalise(dir, &name);
        let res = match kind {
            b'5' => fs.mkdir_all(&target),
            b'0' | 0 | b'7' => fs.write(&target, data.to_vec(), mode),
            // Links and devices are skipped, as an unprivileged tar would refuse them.
            _ => continue,
        };
        res.map_err(|source| TarError::Write {
            path: name.clone(),
            source,
        })?;
        written.push(name);
    }
    Ok(written)
}

/// The `path` record of a PAX extended header.
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    text.lines().find_map(|l| {
        let (_, kv) = l.split_once(' ')?;
        kv.strip_prefix("path=").map(str::to_string)
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn archives_round_trip_with_long_names_and_bad_input_is_refused() {
        let mut fs = Fs::seeded("p", "ns", "10.0.0.1");
        let long = format!("/tmp/d/{}", "n".repeat(120));
        fs.write("/tmp/d/a.txt", b"hello".to_vec(), 0o640).unwrap();
        fs.write(&long, vec![7; 1000], 0o600).unwrap();
        let ar = create(&fs, "/", "/tmp/d").unwrap();
        assert_eq!(ar.len() % 512, 0);
        let mut other = Fs::seeded("q", "ns", "10.0.0.2");
        let names = extract(&mut other, "/root", &ar).unwrap();
        assert_eq!(names[0], "tmp/d/");
        assert_eq!(
            other.get("/root/tmp/d/a.txt"),
            Some(&Entry::File {
                data: b"hello".to_vec(),
                mode: 0o640
            })
        );
        assert!(other.get(&format!("/root{long}")).is_some());
        assert_eq!(
            create(&fs, "/", "/nope"),
            Err(TarError::NotFound("/nope".into()))
        );
        let mut cut = ar.clone();
        cut.truncate(700);
        assert_eq!(extract(&mut other, "/", &cut), Err(TarError::Malformed));
    }
}

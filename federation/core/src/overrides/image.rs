//! Image references split into registry, repository and tag or digest (Karmada
//! `pkg/util/imageparser`, which follows `distribution/reference`): validated against the
//! reference grammar, with the hostname told apart by containing `.` or `:` or being
//! `localhost`.

use std::fmt;

/// An image reference's components.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageRef {
    /// Registry host with optional port (`registry.k8s.io`, `localhost:5000`); may be empty.
    pub hostname: String,
    /// Path below the registry (`library/nginx`).
    pub repository: String,
    /// Tag (`1.25`); empty when absent.
    pub tag: String,
    /// Digest (`sha256:...`); empty when absent or when a tag is present.
    pub digest: String,
}

/// Why an image reference is invalid (messages as `distribution/reference` words them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// The reference is empty.
    #[error("repository name must have at least one component")]
    Empty,
    /// The reference does not match the grammar.
    #[error("invalid reference format")]
    Format,
    /// The repository name contains upper-case letters.
    #[error("invalid reference format: repository name (library/{0}) must be lowercase")]
    Uppercase(String),
    /// The repository name is longer than 255 characters.
    #[error("repository name must not be more than 255 characters")]
    TooLong,
    /// The digest's algorithm is not one the parser knows.
    #[error("unsupported digest algorithm")]
    DigestAlgorithm,
    /// The digest's hex part has the wrong length or characters.
    #[error("invalid checksum digest format")]
    DigestFormat,
}

impl ImageRef {
    /// Parses a reference `[host[:port]/]path[:tag][@digest]`; with both a tag and a digest
    /// only the tag is kept, as Karmada's parser does.
    pub fn parse(image: &str) -> Result<Self, ImageError> {
        if image.is_empty() {
            return Err(ImageError::Empty);
        }
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (image, None),
        };
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if let Some(t) = tag
            && !is_tag(t)
        {
            return Err(ImageError::Format);
        }
        if let Some(d) = digest {
            check_digest(d)?;
        }
        if name.is_empty() {
            return Err(ImageError::Format);
        }
        if !is_name(name) {
            return Err(if name.bytes().any(|b| b.is_ascii_uppercase()) {
                ImageError::Uppercase(name.to_string())
            } else {
                ImageError::Format
            });
        }
        if name.len() > 255 {
            return Err(ImageError::TooLong);
        }
        let (hostname, repository) = split_hostname(name);
        Ok(ImageRef {
            hostname: hostname.to_string(),
            repository: repository.to_string(),
            tag: tag.unwrap_or("").to_string(),
            digest: if tag.is_some() {
                String::new()
            } else {
                digest.unwrap_or("").to_string()
            },
        })
    }

    /// The tag, or else the digest.
    pub fn tag_or_digest(&self) -> &str {
        if self.tag.is_empty() {
            &self.digest
        } else {
            &self.tag
        }
    }

    /// Sets the tag or the digest, whichever the input looks like (neither: unchanged).
    pub fn set_tag_or_digest(&mut self, input: &str) {
        if is_tag(input) {
            self.tag = input.to_string();
            self.digest.clear();
        } else if is_digest_syntax(input) {
            self.digest = input.to_string();
            self.tag.clear();
        }
    }

    /// Removes the tag if there is one, else the digest.
    pub fn remove_tag_or_digest(&mut self) {
        if !self.tag.is_empty() {
            self.tag.clear();
        } else {
            self.digest.clear();
        }
    }

    /// Registry and repository joined by `/` (just the repository without a registry).
    pub fn full_repository(&self) -> String {
        if self.hostname.is_empty() {
            self.repository.clone()
        } else {
            format!("{}/{}", self.hostname, self.repository)
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.tag.is_empty() {
            write!(f, "{}:{}", self.full_repository(), self.tag)
        } else if !self.digest.is_empty() {
            write!(f, "{}@{}", self.full_repository(), self.digest)
        } else {
            f.write_str(&self.full_repository())
        }
    }
}

/// `SplitHostname`: the first component is the registry when it contains `.` or `:` or is
/// `localhost`.
fn split_hostname(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => (first, rest),
        _ => ("", name),
    }
}

/// `[\w][\w.-]{0,127}`.
fn is_tag(t: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][[:xdigit:]]{32,}`.
fn is_digest_syntax(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(u8::is_ascii_alphanumeric)
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|c| c.is_ascii_hexdigit())
}

/// A digest as `reference.Parse` accepts it: the syntax, a known algorithm and its hex length
/// in lower case.
fn check_digest(d: &str) -> Result<(), ImageError> {
    if !is_digest_syntax(d) {
        return Err(ImageError::Format);
    }
    let (alg, hex) = d.split_once(':').unwrap_or(("", ""));
    let len = match alg {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(ImageError::DigestAlgorithm),
    };
    if hex.len() != len || hex.bytes().any(|c| c.is_ascii_uppercase()) {
        return Err(ImageError::DigestFormat);
    }
    Ok(())
}

/// A name: optional `domain[:port]/` then path components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_name(name: &str) -> bool {
    let parts: Vec<&str> = name.split('/').collect();
    let all_paths = parts.iter().all(|p| is_path_component(p));
    all_paths
        || (parts.len() >= 2
            && is_domain(parts[0])
            && parts[1..].iter().all(|p| is_path_component(p)))
}

fn is_path_component(p: &str) -> bool {
    let b = p.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        // A separator: ".", "_", "__" or one or more "-", followed by an alphanumeric.
        let start = i;
        match b[i] {
            b'.' => i += 1,
            b'_' => i += if b.get(i + 1) == Some(&b'_') { 2 } else { 1 },
            b'-' => {
                while b.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
        if i == start || !b.get(i).copied().is_some_and(alnum) {
            return false;
        }
    }
    true
}

/// `host[:port]` with host a dotted DNS name (letters may be upper case) or `[ipv6]`.
fn is_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        match after.strip_prefix(':') {
            Some(p) => ("v6", Some(p)),
            None if after.is_empty() => ("v6", None),
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|c| c.is_ascii_digit()))
    {
        return false;
    }
    host.split('.').all(|label| {
        let b = label.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c";

    #[test]
    fn components() {
        let cases = [
            ("nginx", "", "nginx", "", ""),
            ("nginx:1.19", "", "nginx", "1.19", ""),
            ("library/nginx:latest", "", "library/nginx", "latest", ""),
            (
                "registry.k8s.io/kube-apiserver:v1.28.0",
                "registry.k8s.io",
                "kube-apiserver",
                "v1.28.0",
                "",
            ),
            (
                "fictional.registry.example:10443/karmada/karmada-controller-manager:v1.0.0",
                "fictional.registry.example:10443",
                "karmada/karmada-controller-manager",
                "v1.0.0",
                "",
            ),
            ("localhost/foo", "localhost", "foo", "", ""),
            (
                "localhost:5000/foo/bar@sha256:50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c",
                "localhost:5000",
                "foo/bar",
                "",
                SHA,
            ),
            ("[::1]:5000/foo", "[::1]:5000", "foo", "", ""),
        ];
        for (image, host, repo, tag, digest) in cases {
            let r = ImageRef::parse(image).unwrap();
            assert_eq!(
                (
                    r.hostname.as_str(),
                    r.repository.as_str(),
                    r.tag.as_str(),
                    r.digest.as_str()
                ),
                (host, repo, tag, digest),
                "{image}"
            );
            assert_eq!(r.to_string(), image);
        }
        // Tag and digest: the tag wins.
        let r = ImageRef::parse(&format!("nginx:1.0@{SHA}")).unwrap();
        assert_eq!(r.to_string(), "nginx:1.0");
    }

    #[test]
    fn invalid() {
        assert_eq!(ImageRef::parse(""), Err(ImageError::Empty));
        assert!(matches!(
            ImageRef::parse("Nginx"),
            Err(ImageError::Uppercase(_))
        ));
        assert_eq!(ImageRef::parse("nginx:"), Err(ImageError::Format));
        assert_eq!(ImageRef::parse("a//b"), Err(ImageError::Format));
        assert_eq!(ImageRef::parse("nginx@sha256:abc"), Err(ImageError::Format));
        assert_eq!(
            ImageRef::parse("nginx@md5:50d858e0985ecc7f60418aaf0cc5ab58"),
            Err(ImageError::DigestAlgorithm)
        );
        assert!(ImageRef::parse("Registry.IO/foo").is_ok());
    }

    #[test]
    fn tag_or_digest_edits() {
        let mut r = ImageRef::parse("nginx:1.0").unwrap();
        r.set_tag_or_digest(SHA);
        assert_eq!(r.to_string(), format!("nginx@{SHA}"));
        r.set_tag_or_digest("2.0");
        assert_eq!(r.to_string(), "nginx:2.0");
        r.set_tag_or_digest("not a tag!");
        assert_eq!(r.to_string(), "nginx:2.0");
        r.remove_tag_or_digest();
        assert_eq!(r.to_string(), "nginx");
    }
}

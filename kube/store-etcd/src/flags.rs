//! kube-apiserver's etcd flags (`--etcd-servers`, `--etcd-prefix`, `--etcd-cafile`,
//! `--etcd-certfile`, `--etcd-keyfile`), shared by the binaries that can serve from etcd.

use std::path::PathBuf;
use std::time::Duration;

use crate::{EtcdConfig, EtcdTls};

/// The etcd flags of a command line; flatten into a binary's `clap` arguments.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct EtcdFlags {
    /// Keep the API's objects in etcd at these client URLs (comma-separated, e.g.
    /// `https://10.0.0.1:2379,https://10.0.0.2:2379`) instead of the embedded store.
    #[arg(long, value_delimiter = ',')]
    pub etcd_servers: Vec<String>,
    /// Prefix of every key in etcd.
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,
    /// CA file that signed etcd's serving certificates.
    #[arg(long)]
    pub etcd_cafile: Option<PathBuf>,
    /// Client certificate for etcd (PEM).
    #[arg(long, requires = "etcd_keyfile")]
    pub etcd_certfile: Option<PathBuf>,
    /// Key of the etcd client certificate (PEM).
    #[arg(long, requires = "etcd_certfile")]
    pub etcd_keyfile: Option<PathBuf>,
    /// Seconds between compactions of etcd's history (0: never; then something else must
    /// compact etcd, or it fills up).
    #[arg(long, default_value_t = 300)]
    pub etcd_compaction_interval_secs: u64,
}

impl EtcdFlags {
    /// The etcd settings, or `None` (the embedded store) when no server is given.
    pub fn config(&self) -> Option<EtcdConfig> {
        let endpoints: Vec<String> = self
            .etcd_servers
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        if endpoints.is_empty() {
            return None;
        }
        let tls = (self.etcd_cafile.is_some() || self.etcd_certfile.is_some()).then(|| EtcdTls {
            ca_file: self.etcd_cafile.clone(),
            cert_file: self.etcd_certfile.clone(),
            key_file: self.etcd_keyfile.clone(),
        });
        Some(EtcdConfig {
            prefix: self.etcd_prefix.clone(),
            tls,
            compaction_interval: (self.etcd_compaction_interval_secs > 0)
                .then(|| Duration::from_secs(self.etcd_compaction_interval_secs)),
            ..EtcdConfig::new(endpoints)
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cmd {
        #[command(flatten)]
        etcd: EtcdFlags,
    }

    #[test]
    fn no_servers_means_the_embedded_store() {
        let cmd = Cmd::try_parse_from(["x"]).unwrap();
        assert!(cmd.etcd.config().is_none());
    }

    #[test]
    fn servers_tls_and_compaction() {
        let cmd = Cmd::try_parse_from([
            "x",
            "--etcd-servers",
            "https://a:2379, https://b:2379",
            "--etcd-cafile=/p/ca.pem",
            "--etcd-certfile=/p/c.pem",
            "--etcd-keyfile=/p/k.pem",
            "--etcd-compaction-interval-secs=0",
        ])
        .unwrap();
        let cfg = cmd.etcd.config().unwrap();
        assert_eq!(cfg.endpoints, ["https://a:2379", "https://b:2379"]);
        assert_eq!(cfg.prefix, "/registry");
        assert!(cfg.compaction_interval.is_none());
        let tls = cfg.tls.unwrap();
        assert_eq!(tls.key_file.unwrap(), PathBuf::from("/p/k.pem"));
    }

    #[test]
    fn a_certificate_needs_its_key() {
        let err = Cmd::try_parse_from(["x", "--etcd-servers=http://a", "--etcd-certfile=/c"]);
        assert!(err.is_err());
    }
}

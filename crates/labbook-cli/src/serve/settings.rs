//! Where `labbook serve`'s settings come from: a flag, else its `LABBOOK_SERVE_*` variable
//! (clap reads both), else `labbook-serve.toml` in the data directory, else the default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use labbook_server::{Limits, TlsFiles};
use serde::Deserialize;

use super::LogFormat;

/// The file's name, in the data directory.
pub(super) const FILE: &str = "labbook-serve.toml";

/// `labbook-serve.toml`: every key optional, an unknown key an error that names it.
///
/// ```toml
/// listen = "0.0.0.0:8443"
/// log_format = "json"
/// tls_cert = "/etc/labbook/cert.pem"
/// tls_key = "/etc/labbook/key.pem"
/// body_limit_mib = 512
/// decompressed_limit_mib = 64
/// graphql_limit_kib = 1024
/// watch = ["/home/lab/runs", "/data/shared/wandb"]
/// ```
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSettings {
    pub(super) listen: Option<SocketAddr>,
    pub(super) log_format: Option<String>,
    pub(super) tls_cert: Option<PathBuf>,
    pub(super) tls_key: Option<PathBuf>,
    pub(super) body_limit_mib: Option<usize>,
    pub(super) decompressed_limit_mib: Option<usize>,
    pub(super) graphql_limit_kib: Option<usize>,
    pub(super) watch: Option<Vec<PathBuf>>,
}

impl FileSettings {
    /// The data directory's file, or nothing set when there is none.
    pub(super) fn read(data: &Path) -> Result<FileSettings> {
        let path = data.join(FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FileSettings::default());
            }
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        toml::from_str(&text).with_context(|| format!("{}", path.display()))
    }

    /// The log format it names; an unknown one is an error.
    pub(super) fn log_format(&self) -> Result<Option<LogFormat>> {
        match self.log_format.as_deref() {
            None => Ok(None),
            Some("text") => Ok(Some(LogFormat::Text)),
            Some("json") => Ok(Some(LogFormat::Json)),
            Some(other) => bail!("{FILE}: log_format {other:?}: use \"text\" or \"json\""),
        }
    }
}

/// What the flags and variables said; `None` where they said nothing.
#[derive(Debug, Default, Clone)]
pub(super) struct Given {
    pub(super) listen: Option<SocketAddr>,
    pub(super) tls_cert: Option<PathBuf>,
    pub(super) tls_key: Option<PathBuf>,
    pub(super) body_limit_mib: Option<usize>,
    pub(super) decompressed_limit_mib: Option<usize>,
    pub(super) graphql_limit_kib: Option<usize>,
    /// Empty when no flag or variable named one.
    pub(super) watch: Vec<PathBuf>,
}

/// The settings a server starts with.
#[derive(Debug, PartialEq)]
pub(super) struct Settings {
    pub(super) listen: SocketAddr,
    pub(super) tls: Option<TlsFiles>,
    pub(super) limits: Limits,
    /// Directories whose offline runs are imported.
    pub(super) watch: Vec<PathBuf>,
}

/// Flags and variables first, then the file, then the defaults. A certificate without a
/// key (or a key without one) is an error, as is a limit of 0.
pub(super) fn resolve(given: Given, file: FileSettings) -> Result<Settings> {
    let listen = given
        .listen
        .or(file.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let tls = match (
        given.tls_cert.or(file.tls_cert),
        given.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(TlsFiles::new(cert, key)),
        (None, None) => None,
        (Some(_), None) => bail!("a TLS certificate needs its key: --tls-key or tls_key"),
        (None, Some(_)) => bail!("a TLS key needs its certificate: --tls-cert or tls_cert"),
    };
    let defaults = Limits::default();
    let size = |name: &str, value: Option<usize>, unit: usize, default: usize| -> Result<usize> {
        match value {
            Some(0) => bail!("{name} must be more than 0"),
            Some(n) => n
                .checked_mul(unit)
                .with_context(|| format!("{name} {n} is too large")),
            None => Ok(default),
        }
    };
    let limits = Limits {
        body: size(
            "body_limit_mib",
            given.body_limit_mib.or(file.body_limit_mib),
            1 << 20,
            defaults.body,
        )?,
        decompressed: size(
            "decompressed_limit_mib",
            given.decompressed_limit_mib.or(file.decompressed_limit_mib),
            1 << 20,
            defaults.decompressed,
        )?,
        graphql_document: size(
            "graphql_limit_kib",
            given.graphql_limit_kib.or(file.graphql_limit_kib),
            1 << 10,
            defaults.graphql_document,
        )?,
    };
    let watch = if given.watch.is_empty() {
        file.watch.unwrap_or_default()
    } else {
        given.watch
    };
    Ok(Settings {
        listen,
        tls,
        limits,
        watch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_which_wins_over_defaults() {
        let file: FileSettings = toml::from_str(
            "listen = \"0.0.0.0:9000\"\nbody_limit_mib = 2\ngraphql_limit_kib = 8\n\
             tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\nlog_format = \"json\"\n\
             watch = [\"runs\"]",
        )
        .unwrap();
        assert_eq!(file.log_format().unwrap(), Some(LogFormat::Json));
        let given = Given {
            body_limit_mib: Some(3),
            ..Given::default()
        };
        let s = resolve(given, file).unwrap();
        assert_eq!(s.listen, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(
            (
                s.limits.body,
                s.limits.graphql_document,
                s.limits.decompressed
            ),
            (3 << 20, 8 << 10, Limits::default().decompressed)
        );
        assert_eq!(s.tls, Some(TlsFiles::new("c.pem", "k.pem")));
        assert_eq!(s.watch, [PathBuf::from("runs")]);
        let flag = Given {
            watch: vec!["flag".into()],
            ..Given::default()
        };
        let file = FileSettings {
            watch: Some(vec!["file".into()]),
            ..FileSettings::default()
        };
        assert_eq!(resolve(flag, file).unwrap().watch, [PathBuf::from("flag")]);
        let plain = resolve(Given::default(), FileSettings::default()).unwrap();
        assert_eq!(plain.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(plain.tls, None);
        assert!(plain.watch.is_empty());
    }

    #[test]
    fn bad_settings_are_named() {
        let e = toml::from_str::<FileSettings>("lisen = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lisen"), "{e}");
        let cert_only = Given {
            tls_cert: Some("c.pem".into()),
            ..Given::default()
        };
        let e = resolve(cert_only, FileSettings::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs its key"), "{e}");
        let zero = Given {
            graphql_limit_kib: Some(0),
            ..Given::default()
        };
        let e = resolve(zero, FileSettings::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("graphql_limit_kib must be more than 0"), "{e}");
        let format = FileSettings {
            log_format: Some("xml".into()),
            ..FileSettings::default()
        };
        assert!(
            format
                .log_format()
                .unwrap_err()
                .to_string()
                .contains("\"text\" or \"json\"")
        );
    }
}

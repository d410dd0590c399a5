//! Server TLS (rustls with the `ring` provider) from PEM files. The CLI clients' TLS settings
//! live with the CLI.
use std::path::{Path, PathBuf};

use tonic::transport::{Identity, ServerTlsConfig};

use super::OpsError;

/// The server's certificate chain and private key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain (leaf first), PEM.
    pub cert: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub key: PathBuf,
}

impl TlsFiles {
    /// Both files or neither: a certificate without its key (or vice versa) is an error.
    ///
    /// # Errors
    /// [`OpsError::Config`] when only one of the two is given.
    pub fn from_pair(cert: Option<PathBuf>, key: Option<PathBuf>) -> Result<Option<Self>, OpsError> {
        match (cert, key) {
            (Some(cert), Some(key)) => Ok(Some(Self { cert, key })),
            (None, None) => Ok(None),
            (Some(_), None) => Err(OpsError::Config("--tls-cert needs --tls-key".into())),
            (None, Some(_)) => Err(OpsError::Config("--tls-key needs --tls-cert".into())),
        }
    }
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, OpsError> {
    std::fs::read(path).map_err(|source| OpsError::ReadPem {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// The server TLS configuration for `files`.
///
/// # Errors
/// [`OpsError::ReadPem`] when a file cannot be read; a malformed PEM is reported by the
/// transport when the server is built.
pub fn server_config(files: &TlsFiles) -> Result<ServerTlsConfig, OpsError> {
    let cert = read_pem("TLS certificate", &files.cert)?;
    let key = read_pem("TLS key", &files.key)?;
    Ok(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cert_and_key_come_together() {
        assert!(TlsFiles::from_pair(None, None).unwrap().is_none());
        assert!(
            TlsFiles::from_pair(Some("c".into()), Some("k".into()))
                .unwrap()
                .is_some()
        );
        assert!(TlsFiles::from_pair(Some("c".into()), None).is_err());
        assert!(TlsFiles::from_pair(None, Some("k".into())).is_err());
    }

    #[test]
    fn missing_files_name_the_path() {
        let files = TlsFiles {
            cert: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
        };
        let err = server_config(&files).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/cert.pem"), "{err}");
    }
}

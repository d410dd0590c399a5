//! The connection helper the CLI clients (and the load benchmarks) share: plain or TLS
//! channels (rustls with the `ring` provider), and a bearer token attached to every call.
use std::path::{Path, PathBuf};
use std::time::Duration;

use statecast_service::ops::OpsError;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

/// A channel that adds `authorization: Bearer TOKEN` to every request when a token is set.
pub(crate) type AuthChannel = InterceptedService<Channel, BearerToken>;

/// How to reach a server.
#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    /// `http://host:port` or `https://host:port` (a bare `host:port` means `http://`).
    pub(crate) server: String,
    /// CA certificate (PEM) to trust for `https://`; default: the web PKI roots.
    pub(crate) ca_cert: Option<PathBuf>,
    /// TLS server name to verify, when it differs from the address's host.
    pub(crate) tls_domain: Option<String>,
    /// Bearer token for mutating RPCs.
    pub(crate) token: Option<String>,
    /// Bound on establishing the connection.
    pub(crate) connect_timeout: Duration,
}

impl ClientOptions {
    /// Options for `server` with no TLS CA, no token and a 10 s connect timeout.
    pub(crate) fn new(server: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            ca_cert: None,
            tls_domain: None,
            token: None,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// The endpoint, with TLS for `https://` (or when a CA is given).
    ///
    /// # Errors
    /// [`OpsError::Address`] for a malformed address, [`OpsError::ReadPem`] for an unreadable CA
    /// file, [`OpsError::Transport`] when TLS cannot be configured.
    pub(crate) fn endpoint(&self) -> Result<Endpoint, OpsError> {
        let address = if self.server.contains("://") {
            self.server.clone()
        } else {
            format!("http://{}", self.server)
        };
        let https = address.starts_with("https://");
        if self.ca_cert.is_some() && !https {
            return Err(OpsError::Config(format!(
                "--ca-cert is given but the server address `{address}` is not https://"
            )));
        }
        let mut endpoint = Endpoint::from_shared(address.clone())
            .map_err(|e| OpsError::Address {
                address: address.clone(),
                reason: e.to_string(),
            })?
            .connect_timeout(self.connect_timeout);
        if https {
            let config = tls_config(self.ca_cert.as_deref(), self.tls_domain.as_deref())?;
            endpoint = endpoint
                .tls_config(config)
                .map_err(|source| OpsError::Transport {
                    context: "configuring TLS".into(),
                    source,
                })?;
        }
        Ok(endpoint)
    }

    /// The interceptor carrying this token.
    ///
    /// # Errors
    /// [`OpsError::InvalidToken`] when the token is not a valid header value.
    pub(crate) fn bearer(&self) -> Result<BearerToken, OpsError> {
        BearerToken::new(self.token.as_deref())
    }

    /// Connect and wrap the channel with the bearer token.
    ///
    /// # Errors
    /// As [`ClientOptions::endpoint`] and [`ClientOptions::bearer`]; [`OpsError::Transport`]
    /// when the server cannot be reached or the TLS handshake fails.
    pub(crate) async fn connect(&self) -> Result<AuthChannel, OpsError> {
        let bearer = self.bearer()?;
        let channel = self
            .endpoint()?
            .connect()
            .await
            .map_err(|source| OpsError::Transport {
                context: format!("connecting to {}", self.server),
                source,
            })?;
        Ok(InterceptedService::new(channel, bearer))
    }
}

/// Adds `authorization: Bearer TOKEN` to outgoing requests (nothing without a token).
#[derive(Clone, Default)]
pub(crate) struct BearerToken(Option<MetadataValue<Ascii>>);

impl BearerToken {
    /// An interceptor for `token` (`None` or empty: send nothing).
    ///
    /// # Errors
    /// [`OpsError::InvalidToken`] when the token is not printable ASCII.
    pub(crate) fn new(token: Option<&str>) -> Result<Self, OpsError> {
        match token.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(Self(None)),
            Some(t) => format!("Bearer {t}")
                .parse::<MetadataValue<Ascii>>()
                .map(|mut v| {
                    v.set_sensitive(true);
                    Self(Some(v))
                })
                .map_err(|_| OpsError::InvalidToken),
        }
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "BearerToken(<redacted>)"
        } else {
            "BearerToken(None)"
        })
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// The client TLS configuration: trust `ca` (PEM) when given, else the built-in web PKI roots.
/// The server name checked is the host of the address unless `domain` overrides it.
fn tls_config(ca: Option<&Path>, domain: Option<&str>) -> Result<ClientTlsConfig, OpsError> {
    let mut config = ClientTlsConfig::new();
    config = match ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|source| OpsError::ReadPem {
                what: "CA certificate",
                path: path.to_path_buf(),
                source,
            })?;
            config.ca_certificate(Certificate::from_pem(pem))
        }
        None => config.with_webpki_roots(),
    };
    if let Some(domain) = domain {
        config = config.domain_name(domain);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_header_is_added_only_with_a_token() {
        let mut with = BearerToken::new(Some("abc")).unwrap();
        let r = with.call(tonic::Request::new(())).unwrap();
        assert_eq!(r.metadata().get("authorization").unwrap(), "Bearer abc");
        let mut without = BearerToken::new(Some("")).unwrap();
        let r = without.call(tonic::Request::new(())).unwrap();
        assert!(r.metadata().get("authorization").is_none());
        assert!(BearerToken::new(Some("bad\ntoken")).is_err());
        assert_eq!(format!("{with:?}"), "BearerToken(<redacted>)");
    }

    #[test]
    fn addresses() {
        assert!(ClientOptions::new("127.0.0.1:1").endpoint().is_ok());
        assert!(ClientOptions::new("https://localhost:1").endpoint().is_ok());
        let mut plain_with_ca = ClientOptions::new("http://localhost:1");
        plain_with_ca.ca_cert = Some("ca.pem".into());
        assert!(plain_with_ca.endpoint().is_err());
    }

    #[test]
    fn an_unreadable_ca_names_its_path() {
        let mut options = ClientOptions::new("https://localhost:1");
        options.ca_cert = Some("/nonexistent/ca.pem".into());
        let err = options.endpoint().unwrap_err().to_string();
        assert_eq!(
            err,
            "reading CA certificate /nonexistent/ca.pem: No such file or directory (os error 2)"
        );
    }
}

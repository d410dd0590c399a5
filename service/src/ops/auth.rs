//! Bearer-token authentication for mutating RPCs, or for every RPC.
//!
//! When the server has a token (`--auth-token-file`, `STATECAST_AUTH_TOKEN` or
//! `--auth-token`), every RPC whose path [`is_mutating`] must carry `authorization: Bearer
//! TOKEN`; otherwise it is answered `UNAUTHENTICATED` before it reaches the service. With
//! [`AuthScope::All`] (`--auth-all-rpcs`) the token is required on every RPC except
//! `grpc.health.v1` checks (orchestrators' probes cannot send headers). Otherwise read-only
//! RPCs (forecasts, list/get, monitor streams, reflection, server info) stay open. Tokens are
//! compared in constant time.
use std::sync::Arc;
use std::task::{Context, Poll};

use subtle::ConstantTimeEq;

use super::future::ResponseFuture;
use tower::{Layer, Service};

/// The fully qualified methods that change server state.
pub const MUTATING_METHODS: &[&str] = &[
    "/statecast.v1.ModelService/RegisterModel",
    "/statecast.v1.ModelService/DeleteModel",
    "/statecast.v1.ModelService/SetLabel",
    "/statecast.v1.TrainingService/SubmitJob",
    "/statecast.v1.TrainingService/CancelJob",
];

/// Method-name prefixes that mark a statecast RPC as mutating even when it is not listed in
/// [`MUTATING_METHODS`] (so services added later are covered by naming convention).
pub const MUTATING_VERBS: &[&str] = &[
    "Register", "Delete", "Set", "Submit", "Cancel", "Create", "Update", "Remove", "Put",
];

/// The health service's path prefix: never behind the token (liveness/readiness probes).
pub const HEALTH_PREFIX: &str = "/grpc.health.v1.Health/";

/// Which RPCs need the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthScope {
    /// Only [`is_mutating`] RPCs.
    #[default]
    Mutating,
    /// Every RPC except health checks.
    All,
}

impl AuthScope {
    /// Whether the RPC at `path` needs the token under this scope.
    pub fn covers(self, path: &str) -> bool {
        match self {
            Self::Mutating => is_mutating(path),
            Self::All => !path.starts_with(HEALTH_PREFIX),
        }
    }
}

/// Whether the RPC at `path` (`/package.Service/Method`) needs the bearer token.
pub fn is_mutating(path: &str) -> bool {
    if MUTATING_METHODS.contains(&path) {
        return true;
    }
    let Some(rest) = path.strip_prefix("/statecast.") else {
        return false;
    };
    let Some((_, method)) = rest.rsplit_once('/') else {
        return false;
    };
    MUTATING_VERBS.iter().any(|v| method.starts_with(v))
}

/// A shared secret; its `Debug` form never shows the value.
#[derive(Clone)]
pub struct AuthToken(Arc<[u8]>);

impl AuthToken {
    /// A token from its text form; `None` for an empty string (no auth).
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        (!token.is_empty()).then(|| Self(Arc::from(token.as_bytes())))
    }

    /// The token in `path` (surrounding whitespace trimmed), e.g. a mounted Kubernetes Secret.
    ///
    /// # Errors
    /// The read error, or [`std::io::ErrorKind::InvalidData`] for an empty file (an empty token
    /// would silently disable auth).
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("reading the auth token file {}: {e}", path.display()),
            )
        })?;
        Self::new(&text).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the auth token file {} is empty", path.display()),
            )
        })
    }

    /// Constant-time comparison with a presented token (lengths may differ).
    pub fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.0.as_ref().ct_eq(presented))
    }
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(<redacted>)")
    }
}

/// The token in an `authorization: Bearer TOKEN` header, if present and well-formed.
fn bearer(headers: &http::HeaderMap) -> Option<&[u8]> {
    let value = headers.get(http::header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| token.trim_ascii())
}

/// Tower layer enforcing the token on the RPCs its scope covers; a no-op without a token.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    token: Option<AuthToken>,
    scope: AuthScope,
}

impl AuthLayer {
    /// Require `token` (when `Some`) on every [`is_mutating`] RPC.
    pub fn new(token: Option<AuthToken>) -> Self {
        Self::with_scope(token, AuthScope::Mutating)
    }

    /// Require `token` (when `Some`) on every RPC `scope` covers.
    pub fn with_scope(token: Option<AuthToken>, scope: AuthScope) -> Self {
        Self { token, scope }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            token: self.token.clone(),
            scope: self.scope,
        }
    }
}

/// The service [`AuthLayer`] produces.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    token: Option<AuthToken>,
    scope: AuthScope,
}

/// Why a request was refused, or `None` when it may pass.
fn refusal(
    token: Option<&AuthToken>,
    scope: AuthScope,
    request_path: &str,
    headers: &http::HeaderMap,
) -> Option<tonic::Status> {
    let token = token?;
    if !scope.covers(request_path) {
        return None;
    }
    match bearer(headers) {
        None => Some(tonic::Status::unauthenticated(
            "this RPC needs `authorization: Bearer TOKEN` (the server was started with an auth token)",
        )),
        Some(presented) if token.matches(presented) => None,
        Some(_) => Some(tonic::Status::unauthenticated("invalid bearer token")),
    }
}

impl<S, ReqBody> Service<http::Request<ReqBody>> for AuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        match refusal(
            self.token.as_ref(),
            self.scope,
            request.uri().path(),
            request.headers(),
        ) {
            Some(status) => {
                tracing::info!(path = request.uri().path(), "refused: {}", status.message());
                ResponseFuture::ready(status.into_http())
            }
            None => ResponseFuture::inner(self.inner.call(request)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(auth: Option<&str>) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        if let Some(a) = auth {
            h.insert(http::header::AUTHORIZATION, a.parse().unwrap());
        }
        h
    }

    const REGISTER: &str = "/statecast.v1.ModelService/RegisterModel";

    #[test]
    fn mutating_paths() {
        assert!(is_mutating(REGISTER));
        assert!(is_mutating("/statecast.v1.ModelService/SetLabel"));
        assert!(is_mutating("/statecast.v1.TrainingService/SubmitJob"));
        assert!(is_mutating("/statecast.v2.TrainingService/CancelJob"));
        assert!(!is_mutating("/statecast.v1.ForecastService/Forecast"));
        assert!(!is_mutating("/statecast.v1.ModelService/ListModels"));
        assert!(!is_mutating("/statecast.v1.ModelService/GetModel"));
        assert!(!is_mutating("/grpc.health.v1.Health/Check"));
        assert!(!is_mutating(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        ));
    }

    #[test]
    fn token_rules() {
        let t = AuthToken::new("s3cret");
        let code = |path: &str, auth: Option<&str>| {
            refusal(t.as_ref(), AuthScope::Mutating, path, &headers(auth)).map(|s| s.code())
        };
        let unauth = Some(tonic::Code::Unauthenticated);
        assert_eq!(code(REGISTER, None), unauth);
        assert_eq!(code(REGISTER, Some("Bearer nope")), unauth);
        assert_eq!(code(REGISTER, Some("Bearer s3cre")), unauth);
        assert_eq!(code(REGISTER, Some("Basic s3cret")), unauth);
        assert_eq!(code(REGISTER, Some("Bearer s3cret")), None);
        assert_eq!(code(REGISTER, Some("bearer  s3cret ")), None);
        assert_eq!(code("/statecast.v1.ForecastService/Forecast", None), None);
        // No token configured: everything passes.
        assert!(refusal(None, AuthScope::All, REGISTER, &headers(None)).is_none());
        assert!(AuthToken::new("  ").is_none());
        assert_eq!(format!("{:?}", t.unwrap()), "AuthToken(<redacted>)");
    }

    #[test]
    fn tokens_from_files_are_trimmed_and_empty_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert!(AuthToken::from_file(&path).unwrap().matches(b"s3cret"));
        std::fs::write(&path, " \n").unwrap();
        assert_eq!(
            AuthToken::from_file(&path).unwrap_err().kind(),
            std::io::ErrorKind::InvalidData
        );
        assert!(AuthToken::from_file(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn scope_all_covers_reads_but_not_health() {
        let t = AuthToken::new("s3cret");
        let code = |path: &str, auth: Option<&str>| {
            refusal(t.as_ref(), AuthScope::All, path, &headers(auth)).map(|s| s.code())
        };
        let unauth = Some(tonic::Code::Unauthenticated);
        for path in [
            "/statecast.v1.ForecastService/Forecast",
            "/statecast.v1.ModelService/ListModels",
            "/statecast.v1.MonitorService/StreamMonitor",
            "/statecast.v1.InfoService/GetServerInfo",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            REGISTER,
            "/no.such.Service/Method",
        ] {
            assert_eq!(code(path, None), unauth, "{path}");
            assert_eq!(code(path, Some("Bearer nope")), unauth, "{path}");
            assert_eq!(code(path, Some("Bearer s3cret")), None, "{path}");
        }
        assert_eq!(code("/grpc.health.v1.Health/Check", None), None);
        assert_eq!(code("/grpc.health.v1.Health/Watch", None), None);
    }
}

//! Start-up policy for who can reach the server: refuse an open network listener without a
//! token, and warn about the combinations that leak.
//!
//! | bind | token | TLS | outcome |
//! |---|---|---|---|
//! | loopback | any | any | allowed (only local processes can connect) |
//! | non-loopback | none | any | **refused** unless `--allow-unauthenticated` |
//! | non-loopback | set | none | allowed, with a warning: the token crosses the network in clear text |
//! | non-loopback | set | set | allowed |
//!
//! Read-only RPCs stay open to anyone who can connect unless `--auth-all-rpcs` is given, so a
//! token that guards only mutations also gets a note when the bind is not loopback.
use std::net::SocketAddr;

/// What the operator chose about network exposure.
#[derive(Debug, Clone, Copy)]
pub struct Exposure {
    /// The address the gRPC listener binds.
    pub addr: SocketAddr,
    /// Whether a bearer token is configured.
    pub token: bool,
    /// Whether TLS is configured.
    pub tls: bool,
    /// Whether the token is required on every RPC (not only mutating ones).
    pub auth_all_rpcs: bool,
    /// `--allow-unauthenticated`: serve a non-loopback address without a token anyway.
    pub allow_unauthenticated: bool,
}

/// A start-up refusal: the configuration would expose mutating RPCs to the network.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "refusing to serve {addr} without an auth token: anyone who can reach it could register, delete and \
     train models. Set a token (--auth-token-file FILE or STATECAST_AUTH_TOKEN), bind 127.0.0.1, or pass \
     --allow-unauthenticated to accept the risk"
)]
pub struct Refusal {
    /// The non-loopback address.
    pub addr: SocketAddr,
}

/// Check `exposure`; `Ok` carries the warnings to print (may be empty).
///
/// # Errors
/// [`Refusal`] for a non-loopback bind without a token and without the explicit override.
pub fn check(exposure: &Exposure) -> Result<Vec<String>, Refusal> {
    let mut warnings = Vec::new();
    if exposure.addr.ip().is_loopback() {
        return Ok(warnings);
    }
    if !exposure.token {
        if !exposure.allow_unauthenticated {
            return Err(Refusal { addr: exposure.addr });
        }
        warnings.push(format!(
            "serving {} WITHOUT authentication (--allow-unauthenticated): every RPC, including register, \
             delete and job submission, is open to anyone who can connect",
            exposure.addr
        ));
        return Ok(warnings);
    }
    if !exposure.tls {
        warnings.push(format!(
            "serving {} with an auth token but without TLS: the token and all data cross the network in \
             clear text; configure --tls-cert/--tls-key or terminate TLS in front of the server",
            exposure.addr
        ));
    }
    if !exposure.auth_all_rpcs {
        warnings.push(
            "read-only RPCs (forecasts, model and job listings, monitor streams) need no token; pass \
             --auth-all-rpcs to require it on every RPC except health checks"
                .to_string(),
        );
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposure(addr: &str, token: bool, tls: bool) -> Exposure {
        Exposure {
            addr: addr.parse().unwrap(),
            token,
            tls,
            auth_all_rpcs: false,
            allow_unauthenticated: false,
        }
    }

    #[test]
    fn loopback_is_always_allowed_quietly() {
        for addr in ["127.0.0.1:50051", "[::1]:50051"] {
            assert_eq!(check(&exposure(addr, false, false)), Ok(vec![]));
            assert_eq!(check(&exposure(addr, true, false)), Ok(vec![]));
        }
    }

    #[test]
    fn an_open_bind_without_token_is_refused_unless_overridden() {
        let open = exposure("0.0.0.0:50051", false, true);
        let refusal = check(&open).unwrap_err();
        assert!(
            refusal.to_string().contains("--allow-unauthenticated"),
            "{refusal}"
        );
        assert!(check(&exposure("[::]:1", false, false)).is_err());
        assert!(check(&exposure("10.1.2.3:1", false, false)).is_err());
        let overridden = Exposure {
            allow_unauthenticated: true,
            ..open
        };
        let warnings = check(&overridden).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("WITHOUT authentication"));
    }

    #[test]
    fn a_token_without_tls_warns() {
        let warnings = check(&exposure("0.0.0.0:50051", true, false)).unwrap();
        assert!(warnings.iter().any(|w| w.contains("clear text")), "{warnings:?}");
        let all = Exposure {
            auth_all_rpcs: true,
            ..exposure("0.0.0.0:50051", true, true)
        };
        assert_eq!(check(&all), Ok(vec![]));
        let reads_open = check(&exposure("0.0.0.0:50051", true, true)).unwrap();
        assert_eq!(reads_open.len(), 1);
        assert!(reads_open[0].contains("--auth-all-rpcs"));
    }
}

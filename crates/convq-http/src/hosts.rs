//! The `Host` check. A web page can reach a service on loopback through DNS rebinding (its own
//! name, re-pointed at 127.0.0.1), but the browser still sends that name as `Host`: accepting
//! only loopback names on a loopback address closes the hole. Clients that are not browsers
//! may leave `Host` out (HTTP/1.0); that is accepted, since no browser does it.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, HttpCode, quote};

/// Which `Host` values are accepted.
#[derive(Debug, Clone)]
pub(crate) struct HostPolicy {
    /// Bound to a loopback address: the loopback names are always accepted, nothing else
    /// unless listed.
    loopback: bool,
    /// `--allowed-host` values, lower case.
    allowed: Vec<Allowed>,
}

#[derive(Debug, Clone)]
struct Allowed {
    name: String,
    /// `None`: any port.
    port: Option<u16>,
}

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

impl HostPolicy {
    pub(crate) fn new(addr: IpAddr, allowed: &[String]) -> Self {
        Self {
            loopback: addr.is_loopback(),
            allowed: allowed
                .iter()
                .map(|host| {
                    let (name, port) = split(host.trim());
                    Allowed {
                        name: name.to_ascii_lowercase(),
                        port: port.and_then(|p| p.parse().ok()),
                    }
                })
                .collect(),
        }
    }

    /// Whether a request with this `Host` value may be served.
    pub(crate) fn accepts(&self, host: &str) -> bool {
        if !self.loopback && self.allowed.is_empty() {
            return true;
        }
        let (name, port) = split(host);
        let port = match port {
            None => None,
            // A port that is not a number is not a valid Host value.
            Some(port) => match port.parse::<u16>() {
                Ok(port) => Some(port),
                Err(_) => return false,
            },
        };
        (self.loopback
            && LOOPBACK_NAMES
                .iter()
                .any(|known| known.eq_ignore_ascii_case(name)))
            || self.allowed.iter().any(|allowed| {
                allowed.name.eq_ignore_ascii_case(name)
                    && allowed.port.is_none_or(|p| port == Some(p))
            })
    }
}

/// `name[:port]`, with `[v6]` literals kept whole.
fn split(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => {
                let (name, rest) = host.split_at(end + 1);
                (name, rest.strip_prefix(':'))
            }
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

/// 421 with the envelope for a `Host` the policy does not accept.
pub(crate) async fn check(
    State(policy): State<Arc<HostPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .map(|value| value.to_str().unwrap_or("\u{fffd}"))
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if !policy.accepts(host) => {
            let mut error = ApiError::new(
                HttpCode::HostNotAllowed,
                format!("this server does not answer for the host {}", quote(host)),
            )
            .with_hint(if policy.loopback {
                "use localhost, 127.0.0.1 or [::1]; or start the server with --allowed-host NAME"
            } else {
                "use one of the names given with --allowed-host"
            });
            error.status = StatusCode::MISDIRECTED_REQUEST;
            error.into_response()
        }
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn loopback_accepts_loopback_names_and_the_listed_ones() {
        let policy = HostPolicy::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            &[
                "convq.internal".to_owned(),
                "api.example.com:8443".to_owned(),
            ],
        );
        for yes in [
            "localhost",
            "LocalHost:8080",
            "127.0.0.1",
            "127.0.0.1:1",
            "[::1]",
            "[::1]:8080",
            "convq.internal",
            "convq.internal:9000",
            "api.example.com:8443",
        ] {
            assert!(policy.accepts(yes), "{yes}");
        }
        for no in [
            "evil.example.com",
            "evil.example.com:8080",
            "localhost.evil.example.com",
            "127.0.0.2",
            "localhost:http",
            "api.example.com",
            "api.example.com:443",
            "[::2]:8080",
            "",
        ] {
            assert!(!policy.accepts(no), "{no}");
        }
    }

    #[test]
    fn other_addresses_restrict_only_when_hosts_are_given() {
        let open = HostPolicy::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), &[]);
        assert!(open.accepts("anything.example.com"));
        let listed = HostPolicy::new(
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            &["API.example.com".to_owned()],
        );
        assert!(listed.accepts("api.example.com:80"));
        assert!(!listed.accepts("localhost"));
        assert!(!listed.accepts("other.example.com"));
    }
}

//! The `cluster { ... }` block and the cluster flags' URLs, with nats-server's names, so a 2.9
//! configuration loads unchanged (`server::route` acts on them).

use std::time::Duration;

use super::file::{Kind, Value};
use super::keys::{host_port, seconds, string, unknown_in};

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ClusterConfig {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub routes: Vec<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub auth_timeout: Option<Duration>,
    pub tls: Option<super::tls::TlsConfig>,
    pub no_advertise: bool,
    pub advertise: Option<String>,
    pub connect_retries: u32,
}

/// A route URL as nats-server accepts it: `nats-route://`, `nats://` or `tls://`, host and port.
pub fn check_route(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "nats-route" | "nats" | "tls") {
        return false;
    }
    let host_port = rest
        .rsplit_once('@')
        .map_or(rest, |(_, hp)| hp)
        .trim_end_matches('/');
    matches!(host_port.rsplit_once(':'), Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok())
}

/// `--cluster nats://[user:pass@]host:port`: credentials, host, and port (`-1`: any free one).
pub fn parse_listen_url(url: &str) -> Option<(Option<(String, String)>, String, Option<u16>)> {
    let (_, rest) = url.split_once("://")?;
    let rest = rest.trim_end_matches('/');
    let (user, hp) = match rest.rsplit_once('@') {
        Some((cred, hp)) => {
            let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
            (Some((u.to_string(), p.to_string())), hp)
        }
        None => (None, rest),
    };
    let (h, p) = hp.rsplit_once(':')?;
    let port = match p {
        "-1" => None,
        p => Some(p.parse::<u16>().ok()?),
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    Some((
        user,
        if h.is_empty() {
            "0.0.0.0".into()
        } else {
            h.to_string()
        },
        port,
    ))
}

/// One route URL's parts: credentials, host, port.
pub fn route_target(url: &str) -> Option<(Option<(String, String)>, String, u16)> {
    let (user, host, port) = parse_listen_url(url)?;
    Some((user, host, port?))
}

pub fn parse_cluster(v: &Value, errors: &mut Vec<String>) -> Option<ClusterConfig> {
    let Kind::Map(m) = &v.kind else {
        errors.push(format!(
            "{}: \"cluster\" must be a map, not {}",
            v.at,
            v.type_name()
        ));
        return None;
    };
    let mut c = ClusterConfig::default();
    for e in &m.entries {
        let v = &e.value;
        let r = match e.key.to_ascii_lowercase().as_str() {
            "name" => string(v, &e.key).map(|s| c.name = Some(s)),
            "listen" => host_port(v, &e.key).map(|(h, p)| {
                c.host = h.or(c.host.take());
                c.port = p;
            }),
            "host" | "net" => string(v, &e.key).map(|s| c.host = Some(s)),
            "port" => host_port(v, &e.key).map(|(_, p)| c.port = p),
            "routes" => match &v.kind {
                Kind::Array(items) => {
                    for i in items {
                        match string(i, "routes") {
                            Ok(u) if check_route(&u) => c.routes.push(u),
                            Ok(u) => {
                                errors.push(format!("{}: error parsing route url {:?}", i.at, u))
                            }
                            Err(msg) => errors.push(msg),
                        }
                    }
                    Ok(())
                }
                _ => Err(format!("{}: \"routes\" must be an array of URLs", v.at)),
            },
            "authorization" => parse_route_auth(v, &mut c, errors),
            "tls" => {
                c.tls = super::tls::parse_tls(v, errors);
                Ok(())
            }
            "no_advertise" => match v.kind {
                Kind::Bool(b) => Ok(c.no_advertise = b),
                _ => Err(format!("{}: \"no_advertise\" must be a boolean", v.at)),
            },
            "cluster_advertise" | "advertise" => string(v, &e.key).map(|s| c.advertise = Some(s)),
            "connect_retries" => match v.kind {
                Kind::Int(n) if n >= 0 => Ok(c.connect_retries = n as u32),
                _ => Err(format!(
                    "{}: \"connect_retries\" must be a non-negative integer",
                    v.at
                )),
            },
            "permissions" | "pool_size" | "compression" | "accounts" => Err(format!(
                "{}: cluster \"{}\" is not yet supported by rnatsd",
                e.at, e.key
            )),
            _ => unknown_in(e),
        };
        if let Err(msg) = r {
            errors.push(msg);
        }
    }
    Some(c)
}

fn parse_route_auth(
    v: &Value,
    c: &mut ClusterConfig,
    errors: &mut Vec<String>,
) -> Result<(), String> {
    let Kind::Map(m) = &v.kind else {
        return Err(format!("{}: \"authorization\" must be a map", v.at));
    };
    for e in &m.entries {
        let v = &e.value;
        let r = match e.key.to_ascii_lowercase().as_str() {
            "user" | "username" => string(v, &e.key).map(|s| c.user = Some(s)),
            "pass" | "password" => string(v, &e.key).map(|s| c.password = Some(s)),
            "timeout" => seconds(v, &e.key).map(|d| c.auth_timeout = Some(d)),
            _ => unknown_in(e),
        };
        if let Err(msg) = r {
            errors.push(msg);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::file::load_str;
    use std::path::Path;

    fn cluster_of(text: &str) -> (Option<ClusterConfig>, Vec<String>) {
        let m = load_str(text, "c.conf", Path::new(".")).unwrap();
        let mut errors = Vec::new();
        let c = parse_cluster(m.get("cluster").unwrap(), &mut errors);
        (c, errors)
    }

    #[test]
    fn full_block() {
        let (c, e) = cluster_of(
            "cluster {\n name: east\n listen: 0.0.0.0:6222\n authorization { user: r, password: s, timeout: 0.5 }\n\
             routes: [nats-route://r:s@127.0.0.1:6223, \"nats://127.0.0.1:6224\"]\n no_advertise: true\n\
             cluster_advertise: \"10.0.0.1:6222\"\n connect_retries: 5\n}",
        );
        assert!(e.is_empty(), "{e:?}");
        let c = c.unwrap();
        assert_eq!(
            (c.name.as_deref(), c.host.as_deref(), c.port),
            (Some("east"), Some("0.0.0.0"), Some(6222))
        );
        assert_eq!(c.routes.len(), 2);
        assert_eq!(
            (c.user.as_deref(), c.password.as_deref()),
            (Some("r"), Some("s"))
        );
        assert!(c.no_advertise);
        assert_eq!(c.connect_retries, 5);
    }

    #[test]
    fn bad_values_are_reported() {
        let (_, e) = cluster_of(
            "cluster { listen: nope, routes: [\"http://x\"], colour: red, pool_size: 3 }",
        );
        assert_eq!(e.len(), 4, "{e:?}");
    }
}

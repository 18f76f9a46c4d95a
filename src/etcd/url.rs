//! The `etcd://host:port[,host:port...]` URL naming a cluster's members.

use super::EtcdError;

/// The members' `host:port` endpoints named by `url`, in order.
///
/// Each member is `host:port` with a port of 1 to 65535; an IPv6 host is written in brackets
/// (`[::1]:2379`). No user, path, query or duplicate member is accepted: TLS and
/// authentication are not supported by this backend, so nothing may look as if they were.
pub(super) fn parse(url: &str) -> Result<Vec<String>, EtcdError> {
    let invalid = |reason: String| EtcdError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .get(..7)
        .filter(|s| s.eq_ignore_ascii_case("etcd://"))
        .map(|_| &url[7..])
        .ok_or_else(|| invalid("the scheme must be etcd://".to_owned()))?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#', '@']) {
        return Err(invalid(
            "only members may follow etcd:// (no user, path or query)".to_owned(),
        ));
    }
    let mut endpoints: Vec<String> = Vec::new();
    for member in rest.split(',') {
        let (host, port) = member
            .rsplit_once(':')
            .ok_or_else(|| invalid(format!("member {member:?} has no :port")))?;
        let host_ok = if let Some(inner) = host.strip_prefix('[') {
            inner
                .strip_suffix(']')
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        } else {
            !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
        };
        if !host_ok {
            return Err(invalid(format!("member {member:?} has an invalid host")));
        }
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) || port.starts_with('+') {
            return Err(invalid(format!(
                "member {member:?} needs a port from 1 to 65535"
            )));
        }
        if endpoints.iter().any(|e| e == member) {
            return Err(invalid(format!("member {member:?} is named twice")));
        }
        endpoints.push(member.to_owned());
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_one_or_more_members() {
        assert_eq!(parse("etcd://127.0.0.1:2379").unwrap(), ["127.0.0.1:2379"]);
        assert_eq!(
            parse("ETCD://a:1,b.example:2,[::1]:3/").unwrap(),
            ["a:1", "b.example:2", "[::1]:3"]
        );
    }

    #[test]
    fn rejects_everything_else() {
        for bad in [
            "",
            "http://127.0.0.1:2379",
            "etcd://",
            "etcd://host",
            "etcd://host:",
            "etcd://host:0",
            "etcd://host:65536",
            "etcd://host:+1",
            "etcd://host:x",
            "etcd://:2379",
            "etcd://a:1,,b:2",
            "etcd://a:1,a:1",
            "etcd://user:pw@a:1",
            "etcd://a:1/prefix",
            "etcd://a:1?x=y",
            "etcd://[::1:2379",
            "etcd://[zz]:2379",
            "etcd://a b:1",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}

//! IP addresses as vendors write them. Duo's `access_device.ip` and `auth_device.ip`
//! carry ports and odd separators in its own fixtures (`1.2.3.4:1234`, `[v6]:1234`,
//! `v6#1234`, `v6p1234`, `v6 port 1234`, `v6.1234`, and a v6 address with a ninth group
//! that is a port); this module strips them. What still does not parse is absent, never
//! an error: a rule can live without an address, not without the event.

use std::net::IpAddr;

/// The address in `raw`, with any port removed, or `None`.
pub(crate) fn parse_ip(raw: &str) -> Option<IpAddr> {
    let s = raw.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    // [v6]:port or [v6]
    if let Some(rest) = s.strip_prefix('[') {
        let end = rest.find(']')?;
        return rest[..end].parse().ok();
    }
    // "<ip> port <n>"
    if let Some((ip, port)) = s.split_once(" port ") {
        return with_port(ip, port);
    }
    // "<ip>#<n>", "<ip>p<n>", "<ip>.<n>", "<ip>:<n>": split at the last separator and
    // accept only when the tail is a port number and the head an address.
    let cut = s.rfind(['#', 'p', '.', ':'])?;
    with_port(&s[..cut], &s[cut + 1..])
}

fn with_port(ip: &str, port: &str) -> Option<IpAddr> {
    port.trim().parse::<u16>().ok()?;
    ip.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duo_fixture_forms() {
        let v6: IpAddr = "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6"
            .parse()
            .expect("v6");
        let v4: IpAddr = "89.160.20.112".parse().expect("v4");
        assert_eq!(parse_ip("89.160.20.112"), Some(v4));
        assert_eq!(parse_ip("89.160.20.112:1234"), Some(v4));
        for form in [
            "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6",
            "[2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6]:1234",
            "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6#1234",
            "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6p1234",
            "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6:1234",
            "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6 port 1234",
            "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6.1234",
            " [2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6] ",
        ] {
            assert_eq!(parse_ip(form), Some(v6), "{form}");
        }
    }

    #[test]
    fn garbage_is_absent() {
        for bad in [
            "",
            "unknown",
            "1.2.3",
            "1.2.3.4:99999",
            "[::1",
            "::1]:80",
            "1.2.3.4#x",
            "p",
            "ip.ip",
        ] {
            assert_eq!(parse_ip(bad), None, "{bad}");
        }
        // A short v6 address with a trailing group is a different, valid address, not a
        // port: only what does not parse as a whole is split.
        assert_eq!(parse_ip("::1:80"), "::1:80".parse().ok());
    }
}

//! Query strings built the way the vendors read them: RFC 3986 percent-encoding
//! (only `A–Z a–z 0–9 - . _ ~` left as they are, upper-case hex, a space as `%20`,
//! never `+`). Duo signs exactly this form, and Graph's OData `$filter` wants it.

/// `s` percent-encoded per RFC 3986 (unreserved characters kept).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// `k=v&k=v`, each side encoded, in the order given.
pub(crate) fn join(params: &[(&str, String)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(encode("jo smith@x+y/é"), "jo%20smith%40x%2By%2F%C3%A9");
        assert_eq!(
            join(&[("$filter", "a ge 1".into()), ("b", "c".into())]),
            "%24filter=a%20ge%201&b=c"
        );
    }
}

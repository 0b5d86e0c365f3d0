//! W&B's wire protocol, as its clients speak it: GraphQL, `file_stream` and the upload
//! and download URLs the GraphQL answers hand out. Each handler reads the request, asks
//! the service, and shapes the answer W&B's clients expect.

pub(crate) mod file_stream;
pub(crate) mod graphql;
pub(crate) mod uploads;

/// Percent-encodes what cannot stand in a URL path as is (keeps `/`).
pub(crate) fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_odd_characters_only() {
        assert_eq!(encode_path("media/a b%.png"), "media/a%20b%25.png");
    }
}

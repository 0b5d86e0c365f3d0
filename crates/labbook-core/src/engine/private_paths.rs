//! The home directory in what a run records (the program, its arguments, the working
//! directory, the config's files) is written `~`: a run shared with a team or uploaded
//! does not show whose machine it came from (`Settings::private_paths(false)` keeps it).

/// The home directory to hide, if any.
#[derive(Clone, Debug, Default)]
pub(crate) struct Home(Option<String>);

impl Home {
    /// Hides `home` (nothing for an empty home or `/`, which would hide every path).
    pub(crate) fn new(home: Option<&str>) -> Home {
        let home = home
            .map(|h| h.trim_end_matches('/'))
            .filter(|h| !h.is_empty());
        Home(home.map(str::to_owned))
    }

    /// `text` with each whole occurrence of the home directory (followed by `/` or the
    /// end) written `~`.
    pub(crate) fn tilde(&self, text: &str) -> String {
        let Some(home) = &self.0 else {
            return text.to_owned();
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find(home.as_str()) {
            let after = &rest[i + home.len()..];
            let before_ok = rest[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric() && c != '/' && c != '_' && c != '-');
            let after_ok = after.is_empty() || after.starts_with('/');
            out.push_str(&rest[..i]);
            out.push_str(if before_ok && after_ok { "~" } else { home });
            rest = after;
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Home;

    #[test]
    fn the_home_directory_becomes_a_tilde_and_nothing_else_does() {
        let h = Home::new(Some("/home/ada/"));
        assert_eq!(h.tilde("/home/ada/proj/train"), "~/proj/train");
        assert_eq!(h.tilde("--data=/home/ada/data"), "--data=~/data");
        assert_eq!(h.tilde("/home/ada"), "~");
        assert_eq!(h.tilde("/home/adam/x"), "/home/adam/x");
        assert_eq!(h.tilde("/srv/home/ada/x"), "/srv/home/ada/x");
        assert_eq!(Home::new(Some("/")).tilde("/etc"), "/etc");
        assert_eq!(Home::new(None).tilde("/home/ada"), "/home/ada");
    }
}

//! "Did you mean ...?": the closest known name to a misspelt one.

/// The candidate most like `wanted` (Jaro-Winkler similarity), if any is alike enough to
/// be worth suggesting.
pub(crate) fn closest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(wanted, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_typo_finds_its_key_and_nonsense_finds_none() {
        let keys = ["train.lr", "train.batch", "model.arch"];
        assert_eq!(super::closest("train.lf", keys), Some("train.lr"));
        assert_eq!(super::closest("model.arhc", keys), Some("model.arch"));
        assert_eq!(super::closest("zzz", keys), None);
    }
}

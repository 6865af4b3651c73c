//! How OpenRC reads yes and no (pure). Two rules, as OpenRC has them: a script's variable is
//! read by functions.sh's `yesno` (`command_background`, `rcinit_critical`), an environment
//! variable of OpenRC's tools by librc's `rc_yesno` (`EINFO_QUIET`), which also takes `y`.

/// functions.sh's `yesno`: yes, true, on, 1, in any case.
pub fn yes(value: &str) -> bool {
    ["yes", "true", "on", "1"]
        .iter()
        .any(|y| value.eq_ignore_ascii_case(y))
}

/// librc's `rc_yesno`: [`yes`], and `y`.
pub fn rc_yes(value: &str) -> bool {
    yes(value) || value.eq_ignore_ascii_case("y")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_words_as_functions_sh_and_librc_read_them() {
        for w in ["yes", "YES", "True", "on", "1"] {
            assert!(yes(w) && rc_yes(w), "{w}");
        }
        for w in ["y", "Y"] {
            assert!(!yes(w) && rc_yes(w), "{w}");
        }
        for w in ["", "no", "0", "off", "false", "yess", " yes"] {
            assert!(!yes(w) && !rc_yes(w), "{w:?}");
        }
    }
}

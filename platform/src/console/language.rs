//! The console's language: `zh-CN` or `en`, chosen from the browser's `Accept-Language`
//! (RFC 9110 weights) when the user has not picked one; the page remembers a choice made
//! with its language switch.

/// A language the console has a catalogue for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese.
    ZhCn,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order the switch lists them.
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    /// The BCP 47 tag, also the catalogue's name (`i18n/<tag>.json`).
    pub const fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The language a range such as `zh-TW`, `en-GB` or `*` selects, if any.
    fn for_range(range: &str) -> Option<Lang> {
        let primary = range.split('-').next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("zh") {
            Some(Lang::ZhCn)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }
}

/// The language for an `Accept-Language` header: the highest-weighted range we have a
/// catalogue for (the earlier one on a tie); English when none matches or the header is
/// absent.
pub fn negotiate(accept_language: Option<&str>) -> Lang {
    let mut best: Option<(f32, Lang)> = None;
    for item in accept_language.unwrap_or_default().split(',') {
        let mut parts = item.split(';');
        let range = parts.next().unwrap_or_default().trim();
        let weight = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if weight <= 0.0 {
            continue;
        }
        if let Some(lang) = Lang::for_range(range) {
            if best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
    }
    best.map_or(Lang::En, |(_, lang)| lang)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_their_language() {
        assert_eq!(negotiate(Some("zh-CN,zh;q=0.9,en;q=0.8")), Lang::ZhCn);
        assert_eq!(negotiate(Some("en-US,en;q=0.9")), Lang::En);
        assert_eq!(negotiate(Some("zh-TW")), Lang::ZhCn);
        assert_eq!(
            negotiate(Some("de-DE,de;q=0.9,zh;q=0.5,en;q=0.4")),
            Lang::ZhCn
        );
    }

    #[test]
    fn weights_decide_not_order() {
        assert_eq!(negotiate(Some("en;q=0.3, zh-CN;q=0.8")), Lang::ZhCn);
        assert_eq!(negotiate(Some("zh;q=0, en")), Lang::En);
    }

    #[test]
    fn english_when_nothing_matches() {
        assert_eq!(negotiate(None), Lang::En);
        assert_eq!(negotiate(Some("")), Lang::En);
        assert_eq!(negotiate(Some("fr-FR, de;q=0.5")), Lang::En);
        assert_eq!(negotiate(Some(";;;,q=")), Lang::En);
    }
}

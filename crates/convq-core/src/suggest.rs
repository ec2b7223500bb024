//! "Did you mean": the known name a misspelt one most likely meant.
//!
//! The rule ([`closest`]): a case-insensitive match wins; otherwise the candidate with the
//! smallest Damerau-Levenshtein distance, if that distance is small enough to be a typo rather
//! than another word (a third of the name's length, at least 1 and at most 3), ties going to
//! the earlier candidate.
//!
//! Both searches are bounded: a name longer than every candidate by more than the largest
//! allowed distance is no typo of any, and is not measured (an unknown key or column can be
//! as long as the input). [`closest_column`] answers the same as [`closest`] over the catalog,
//! but skips, by length and by the characters they use, the candidates too far to be the
//! answer: an input can have hundreds of unknown columns.

use std::borrow::Cow;
use std::sync::LazyLock;

use crate::catalog;

/// The largest distance [`allowed_distance`] allows.
const MAX_DISTANCE: usize = 3;

/// The candidate `name` most likely meant, by the rule in the module documentation.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    let longest = candidates.clone().into_iter().map(str::len).max()?;
    let length = bounded_length(name, longest)?;
    if let Some(exact) = candidates
        .clone()
        .into_iter()
        .find(|c| c.eq_ignore_ascii_case(name))
    {
        return Some(exact);
    }
    let lower = name.to_ascii_lowercase();
    let allowed = allowed_distance(length);
    let mut best: Option<(usize, &'a str)> = None;
    for candidate in candidates {
        let distance = strsim::damerau_levenshtein(&lower, &candidate.to_ascii_lowercase());
        if distance <= allowed && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// [`closest`] over the catalog's logical names, in catalog order.
pub(crate) fn closest_column(name: &str) -> Option<&'static str> {
    /// The catalog as `(length, characters, position)`, sorted by length, then position.
    static BY_LENGTH: LazyLock<Vec<(usize, u64, usize)>> = LazyLock::new(|| {
        let mut table: Vec<_> = catalog::columns()
            .iter()
            .enumerate()
            .map(|(i, c)| (c.logical_name.len(), char_set(c.logical_name), i))
            .collect();
        table.sort_unstable();
        table
    });
    let longest = BY_LENGTH.last().map_or(0, |e| e.0);
    let length = bounded_length(name, longest)?;
    let lower: Cow<'_, str> = if name.bytes().any(|b| b.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    };
    let (allowed, chars) = (allowed_distance(length), char_set(&lower));
    // Catalog names are ASCII, so their byte length is their length in characters.
    let first = BY_LENGTH.partition_point(|e| e.0 + allowed < length);
    let mut best: Option<(usize, usize)> = None;
    for &(_, candidate_chars, position) in BY_LENGTH[first..]
        .iter()
        .take_while(|e| e.0 <= length + allowed)
    {
        // Every character one name has and the other lacks needs an edit of its own.
        let missing = (candidate_chars & !chars).count_ones() as usize;
        let extra = (chars & !candidate_chars).count_ones() as usize;
        if missing > allowed || extra > allowed {
            continue;
        }
        let candidate = catalog::columns()[position].logical_name;
        if candidate == lower {
            return Some(candidate);
        }
        let distance = strsim::damerau_levenshtein(&lower, candidate);
        if distance <= allowed && best.is_none_or(|b| (distance, position) < b) {
            best = Some((distance, position));
        }
    }
    best.map(|(_, position)| catalog::columns()[position].logical_name)
}

/// `name`'s length in characters, or `None` when it is longer than `longest` by more than any
/// allowed distance. Counts at most that many characters, whatever the length of `name`.
fn bounded_length(name: &str, longest: usize) -> Option<usize> {
    let length = name.chars().take(longest + MAX_DISTANCE + 1).count();
    (length <= longest + MAX_DISTANCE).then_some(length)
}

/// The largest distance that still reads as a typo of a name this long.
fn allowed_distance(length: usize) -> usize {
    (length / 3).clamp(1, MAX_DISTANCE)
}

/// The set of characters in `text`, one bit each for `a-z`, `0-9` and `_`, and one bit shared
/// by everything else (sharing a bit only weakens the bound, it never breaks it).
fn char_set(text: &str) -> u64 {
    text.bytes().fold(0, |set, b| {
        set | match b {
            b'a'..=b'z' => 1 << (b - b'a'),
            b'0'..=b'9' => 1 << (26 + b - b'0'),
            b'_' => 1 << 36,
            _ => 1 << 37,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_prefers_case_then_small_edits() {
        let keys = ["agentId", "agentID", "attributes", "status", "orderBy"];
        assert_eq!(closest("orderby", keys), Some("orderBy"));
        assert_eq!(closest("agentid", keys), Some("agentId"));
        assert_eq!(closest("atributes", keys), Some("attributes"));
        assert_eq!(closest("colour", keys), None);
    }

    #[test]
    fn names_far_longer_than_every_candidate_are_not_searched() {
        let keys = ["agentId", "status"];
        assert_eq!(closest("agentIdxyz", keys), Some("agentId"));
        assert_eq!(closest("agentIdwxyz", keys), None);
        assert_eq!(bounded_length(&"é".repeat(1 << 20), 7), None);
        assert_eq!(bounded_length("ééé", 7), Some(3));
        assert_eq!(closest_column(&"a".repeat(1 << 20)), None);
    }

    #[test]
    fn char_sets_have_a_bit_per_kind_of_character() {
        assert_eq!(char_set("aab"), 0b11);
        assert_eq!(char_set("z09_"), 1 << 25 | 1 << 26 | 1 << 35 | 1 << 36);
        assert_eq!(char_set("A-é"), 1 << 37);
        assert_eq!(char_set(""), 0);
    }

    /// The bounds in `closest_column` only skip work: it answers exactly as the plain rule
    /// for typos of every catalog column, and for names far from all of them.
    #[test]
    fn closest_column_agrees_with_the_plain_rule() {
        let names: Vec<&str> = catalog::columns().iter().map(|c| c.logical_name).collect();
        let mut tried = 0;
        for name in &names {
            let chars: Vec<char> = name.chars().collect();
            let mut typos = vec![name.to_uppercase(), format!("{name}x"), format!("x{name}s")];
            for i in [0, chars.len() / 2, chars.len() - 1] {
                let mut deleted = chars.clone();
                deleted.remove(i);
                typos.push(deleted.iter().collect());
                let mut replaced = chars.clone();
                replaced[i] = 'q';
                typos.push(replaced.iter().collect());
                if i + 1 < chars.len() {
                    let mut swapped = chars.clone();
                    swapped.swap(i, i + 1);
                    typos.push(swapped.iter().collect());
                }
            }
            for typo in typos {
                assert_eq!(
                    closest_column(&typo),
                    closest(&typo, names.iter().copied()),
                    "{typo}"
                );
                tried += 1;
            }
        }
        for other in [
            "new_col_1",
            "new_col_418",
            "é",
            "",
            "statuscodé",
            "msdyn_ocliveworkitemid_value",
            "ownerid_",
            "createdby_1",
            "statuscode1",
            "subject_x9",
            "cr8a3_rating",
        ] {
            assert_eq!(
                closest_column(other),
                closest(other, names.iter().copied()),
                "{other}"
            );
        }
        assert!(tried > 500);
    }
}

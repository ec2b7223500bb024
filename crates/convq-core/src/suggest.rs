//! "Did you mean": the known name a misspelt one most likely meant.
//!
//! The rule ([`closest`]): a case-insensitive match wins; otherwise the candidate with the
//! smallest Damerau-Levenshtein distance, if that distance is small enough to be a typo rather
//! than another word (a third of the name's length, at least 1 and at most 3), ties going to
//! the earlier candidate.
//!
//! [`closest_column`] answers the same for the catalog's columns, fast: an input can have
//! hundreds of unknown columns, each checked against the whole catalog. It reads tables built
//! at compile time and skips nearly every candidate with cheap lower bounds of the distance.

use crate::catalog;

/// The candidate `name` most likely meant, by the rule in the module documentation.
pub(crate) fn closest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<&'a str> {
    if let Some(exact) = candidates
        .clone()
        .into_iter()
        .find(|c| c.eq_ignore_ascii_case(name))
    {
        return Some(exact);
    }
    let lower = name.to_ascii_lowercase();
    let allowed = allowed_distance(lower.chars().count());
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
    let lower = ascii_lowercase(name);
    let length = lower.chars().count();
    // One copy of the search per allowed distance, so that the bit tests below unroll.
    match allowed_distance(length) {
        1 => closest_in_catalog::<1>(&lower, length),
        2 => closest_in_catalog::<2>(&lower, length),
        _ => closest_in_catalog::<3>(&lower, length),
    }
}

/// [`closest_column`] for names whose allowed distance is `ALLOWED`.
fn closest_in_catalog<const ALLOWED: usize>(lower: &str, length: usize) -> Option<&'static str> {
    let chars = char_set(lower);
    let mut best: Option<(usize, usize)> = None;
    for group in &GROUPS {
        // Every character one string has and the other lacks needs an edit of its own, so a
        // candidate with more than `ALLOWED` of those, either way, is too far. Characters all
        // of a group's names have, or none of them has, apply to the whole group: a custom
        // column (`new_`, `cr123_`) lacks most of `msdyn_`, which skips most of the catalog at
        // once, and its `_` and digits are in none of the system columns.
        if more_than::<ALLOWED>(group.common & !chars) || more_than::<ALLOWED>(chars & !group.any) {
            continue;
        }
        // Only candidates whose length is within `ALLOWED` can be close enough: a window of
        // the group, which is sorted by length.
        let window = group.with_length_at_least(length.saturating_sub(ALLOWED))
            ..group.with_length_at_least(length + ALLOWED + 1);
        for entry in &group.entries[window] {
            if more_than::<ALLOWED>(entry.chars & !chars)
                || more_than::<ALLOWED>(chars & !entry.chars)
            {
                continue;
            }
            let candidate = catalog::columns()[entry.position].logical_name;
            if entry.chars == chars && candidate == lower {
                // A case-insensitive match beats any edit; catalog names are lower case.
                return Some(candidate);
            }
            let distance = strsim::damerau_levenshtein(lower, candidate);
            if distance <= ALLOWED && best.is_none_or(|b| (distance, entry.position) < b) {
                best = Some((distance, entry.position));
            }
        }
    }
    best.map(|(_, position)| catalog::columns()[position].logical_name)
}

/// The largest distance that still reads as a typo of a name this long.
fn allowed_distance(length: usize) -> usize {
    (length / 3).clamp(1, 3)
}

/// Whether `bits` has more than `LIMIT` bits set. Clearing the lowest set bit `LIMIT` times is
/// cheaper than a full count where there is no popcount instruction (baseline x86-64, wasm).
fn more_than<const LIMIT: usize>(mut bits: u64) -> bool {
    for _ in 0..LIMIT {
        bits &= bits.wrapping_sub(1);
    }
    bits != 0
}

/// `text` in ASCII lower case, borrowed when it already is (validated column names are).
fn ascii_lowercase(text: &str) -> std::borrow::Cow<'_, str> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        text.to_ascii_lowercase().into()
    } else {
        text.into()
    }
}

/// The set of characters in `text`, one bit each for `a-z`, `0-9` and `_`, and one bit shared
/// by everything else (sharing a bit only weakens the bound, it never breaks it).
const fn char_set(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let mut set = 0;
    let mut i = 0;
    while i < bytes.len() {
        set |= CHAR_BIT[bytes[i] as usize];
        i += 1;
    }
    set
}

/// Each byte's bit in a [`char_set`]. Every byte of a non-ASCII character gets the shared bit.
static CHAR_BIT: [u64; 256] = {
    let mut table = [1 << 37; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        if byte.is_ascii_lowercase() {
            table[b] = 1 << (byte - b'a');
        } else if byte.is_ascii_digit() {
            table[b] = 1 << (26 + byte - b'0');
        } else if byte == b'_' {
            table[b] = 1 << 36;
        }
        b += 1;
    }
    table
};

/// One catalog column, as [`closest_column`] reads it.
#[derive(Clone, Copy)]
struct Entry {
    /// Length in characters (catalog names are ASCII).
    length: usize,
    /// [`char_set`] of the name.
    chars: u64,
    /// Position in [`catalog::columns`], which breaks ties.
    position: usize,
}

/// Catalog columns that share a prefix, sorted by length, then position.
struct Group {
    /// The characters every entry has.
    common: u64,
    /// The characters some entry has.
    any: u64,
    entries: &'static [Entry],
    /// `starts[n]`: the index of the first entry at least `n` long, for every `n` up to one
    /// more than the longest name (a look-up rather than a binary search per name).
    starts: [usize; LONGEST + 2],
}

impl Group {
    fn with_length_at_least(&self, length: usize) -> usize {
        self.starts[length.min(LONGEST + 1)]
    }
}

/// The table's publisher prefix, `msdyn_`: most of its columns have it.
const PREFIX: &str = "msdyn_";
const COUNT: usize = catalog::columns().len();
const PREFIXED: usize = count_prefixed();
const LONGEST: usize = longest_name();

/// The catalog in two groups, with and without [`PREFIX`]; built at compile time.
static GROUPS: [Group; 2] = [group(&WITH_PREFIX), group(&WITHOUT_PREFIX)];
static WITH_PREFIX: [Entry; PREFIXED] = entries(true);
static WITHOUT_PREFIX: [Entry; COUNT - PREFIXED] = entries(false);

const fn has_prefix(name: &str) -> bool {
    let (name, prefix) = (name.as_bytes(), PREFIX.as_bytes());
    if name.len() < prefix.len() {
        return false;
    }
    let mut i = 0;
    while i < prefix.len() {
        if name[i] != prefix[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn longest_name() -> usize {
    let columns = catalog::columns();
    let (mut longest, mut i) = (0, 0);
    while i < columns.len() {
        if columns[i].logical_name.len() > longest {
            longest = columns[i].logical_name.len();
        }
        i += 1;
    }
    longest
}

const fn count_prefixed() -> usize {
    let columns = catalog::columns();
    let (mut count, mut i) = (0, 0);
    while i < columns.len() {
        if has_prefix(columns[i].logical_name) {
            count += 1;
        }
        i += 1;
    }
    count
}

/// The catalog's columns with (or without) [`PREFIX`], sorted by length, then position.
const fn entries<const N: usize>(prefixed: bool) -> [Entry; N] {
    let columns = catalog::columns();
    let mut table = [Entry {
        length: 0,
        chars: 0,
        position: 0,
    }; N];
    let (mut filled, mut i) = (0, 0);
    while i < columns.len() {
        let name = columns[i].logical_name;
        if has_prefix(name) == prefixed {
            table[filled] = Entry {
                length: name.len(),
                chars: char_set(name),
                position: i,
            };
            // Insertion sort: the entries before `filled` are sorted, and positions only
            // grow, so moving the new entry past every longer one keeps ties in order.
            let mut j = filled;
            while j > 0 && table[j - 1].length > table[j].length {
                let moved = table[j - 1];
                table[j - 1] = table[j];
                table[j] = moved;
                j -= 1;
            }
            filled += 1;
        }
        i += 1;
    }
    assert!(filled == N, "the group sizes add up to the catalog");
    table
}

const fn group(entries: &'static [Entry]) -> Group {
    let (mut common, mut any) = (if entries.is_empty() { 0 } else { u64::MAX }, 0);
    let mut i = 0;
    while i < entries.len() {
        common &= entries[i].chars;
        any |= entries[i].chars;
        i += 1;
    }
    let mut starts = [0; LONGEST + 2];
    let (mut length, mut first) = (0, 0);
    while length < starts.len() {
        while first < entries.len() && entries[first].length < length {
            first += 1;
        }
        starts[length] = first;
        length += 1;
    }
    Group {
        common,
        any,
        entries,
        starts,
    }
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
    fn the_groups_cover_the_catalog_sorted_by_length() {
        let mut positions = Vec::new();
        for group in &GROUPS {
            assert!(
                group
                    .entries
                    .windows(2)
                    .all(|w| { (w[0].length, w[0].position) < (w[1].length, w[1].position) })
            );
            for e in group.entries {
                let name = catalog::columns()[e.position].logical_name;
                assert!(name.is_ascii());
                assert_eq!(e.length, name.len());
                assert_eq!(group.common & !char_set(name), 0, "{name}");
                assert_eq!(char_set(name) & !group.any, 0, "{name}");
                positions.push(e.position);
            }
            for length in 0..LONGEST + 5 {
                let first = group.entries.partition_point(|e| e.length < length);
                assert_eq!(group.with_length_at_least(length), first, "{length}");
            }
        }
        positions.sort_unstable();
        assert!(positions.iter().copied().eq(0..COUNT));
        // The prefix group is what makes the search cheap; it is most of the catalog.
        assert_eq!(GROUPS[0].common & char_set(PREFIX), char_set(PREFIX));
        const { assert!(PREFIXED > COUNT / 2) };
    }

    #[test]
    fn more_than_counts_bits() {
        for bits in [0u64, 1, 0b1011, u64::MAX, 1 << 63 | 1] {
            let count = bits.count_ones() as usize;
            assert_eq!(more_than::<0>(bits), count > 0, "{bits:b}");
            assert_eq!(more_than::<1>(bits), count > 1, "{bits:b}");
            assert_eq!(more_than::<2>(bits), count > 2, "{bits:b}");
            assert_eq!(more_than::<3>(bits), count > 3, "{bits:b}");
        }
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

//! The org's text order: case- and accent-insensitive, as an org's default collation
//! (`Latin1_General_CI_AI` for English) compares text. ICU4X's root collation at primary
//! strength: `Zoë` ties with `zoe`, `Émile` sorts among the E's.
//!
//! The store never changes after its load, so every distinct string is ranked once, then
//! (see [`rank_texts`]), and a sort compares two integers. The collator itself only runs at
//! query time for the odd comparison of a text with a GUID held in the same column.

use rustc_hash::FxHashMap;
use std::cmp::Ordering;
use std::sync::LazyLock;

use icu_collator::options::{CollatorOptions, Strength};
use icu_collator::{Collator, CollatorBorrowed};

use super::value::{Texts, Val};

static COLLATOR: LazyLock<CollatorBorrowed<'static>> = LazyLock::new(|| {
    let mut options = CollatorOptions::default();
    options.strength = Some(Strength::Primary);
    Collator::try_new(Default::default(), options)
        .expect("the root collation is compiled into icu_collator")
});

/// Compares two texts as the org's collation does (equal for `Zoë` and `ZOE`).
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    COLLATOR.compare(a, b)
}

/// Sets the collation rank of every string value: strings the collation calls equal share a
/// rank, and ranks order as the strings do. Each distinct string is compared O(log n) times,
/// however many records hold it.
pub(crate) fn rank_texts(values: &mut [Val], texts: &Texts) {
    // First, a dense id per distinct string (kept in `rank` for now).
    let mut ids: FxHashMap<&str, u32> = FxHashMap::default();
    let mut distinct: Vec<&str> = Vec::new();
    for value in values.iter_mut() {
        if let Val::Str(at) | Val::Escaped(at) = value {
            let text = texts.get(*at);
            let next = distinct.len();
            let id = *ids.entry(text).or_insert_with(|| {
                distinct.push(text);
                // At most one distinct string per value, and values are counted in u32.
                next as u32
            });
            at.rank = id;
        }
    }
    drop(ids);
    // Then the ids in collation order, and equal neighbours folded into one rank.
    let mut order: Vec<u32> = (0..distinct.len() as u32).collect();
    order.sort_by(|&a, &b| compare(distinct[a as usize], distinct[b as usize]));
    let mut rank_of = vec![0_u32; distinct.len()];
    let mut rank = 0;
    for (i, &id) in order.iter().enumerate() {
        if i > 0 && compare(distinct[order[i - 1] as usize], distinct[id as usize]).is_ne() {
            rank += 1;
        }
        rank_of[id as usize] = rank;
    }
    for value in values {
        if let Val::Str(at) | Val::Escaped(at) = value {
            at.rank = rank_of[at.rank as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_strength_ignores_case_and_accents_only() {
        assert_eq!(compare("Zoë", "zoe"), Ordering::Equal);
        assert_eq!(compare("ÉMILE", "emile"), Ordering::Equal);
        assert_eq!(compare("Émile", "Eva"), Ordering::Less);
        assert_eq!(compare("Émile", "Dora"), Ordering::Greater);
        assert_eq!(compare("Émile", "Fred"), Ordering::Less);
        assert_eq!(compare("Zoë", "Zoey"), Ordering::Less);
        assert_eq!(compare("abc", "ABD"), Ordering::Less);
        // Not a byte order: 'Z' (0x5A) before 'a' (0x61) in bytes, after it here.
        assert_eq!(compare("Zebra", "apple"), Ordering::Greater);
    }

    #[test]
    fn ranks_follow_the_collation_and_tie_equal_strings() {
        let mut texts = Texts::default();
        let words = ["zoe", "Émile", "Zoë", "apple", "emile", "Eva", "apple"];
        let mut values: Vec<Val> = words
            .iter()
            .map(|w| Val::Str(texts.push(w).unwrap()))
            .collect();
        rank_texts(&mut values, &texts);
        let ranks: Vec<u32> = values
            .iter()
            .map(|v| match v {
                Val::Str(at) => at.rank,
                _ => unreachable!(),
            })
            .collect();
        // apple < emile = Émile < Eva < zoe = Zoë
        assert_eq!(ranks, [3, 1, 3, 0, 1, 2, 0]);
    }
}

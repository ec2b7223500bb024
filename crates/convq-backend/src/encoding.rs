//! Telling UTF-16 text apart, so that every reader of JSON (input files, store files, request
//! bodies) can say "this is UTF-16, convert it" instead of a parse error at line 1, column 1.
//! Windows tools write UTF-16 by default: Windows PowerShell 5's `>` and `Out-File`, Notepad's
//! "Unicode".

/// The encoding of UTF-16 text, named for a person (`UTF-16 (little-endian)`), or `None`.
///
/// Recognized by the byte order mark, or, without one, by the zero byte beside the first
/// character: JSON text starts with an ASCII character, and a zero byte is never valid in it,
/// so UTF-8 JSON is never mistaken for UTF-16.
#[must_use]
pub fn utf16_encoding(bytes: &[u8]) -> Option<&'static str> {
    match bytes {
        [0xFF, 0xFE, ..] => Some("UTF-16 (little-endian, with a byte order mark)"),
        [0xFE, 0xFF, ..] => Some("UTF-16 (big-endian, with a byte order mark)"),
        [first, 0, ..] if first.is_ascii() && *first != 0 => Some("UTF-16 (little-endian)"),
        [0, second, ..] if second.is_ascii() && *second != 0 => Some("UTF-16 (big-endian)"),
        _ => None,
    }
}

/// How to convert a UTF-16 file to UTF-8, for error messages.
pub const CONVERT_UTF16: &str = "convert it, e.g. `iconv -f UTF-16 -t UTF-8 FILE > \
                                 FILE.utf8.json`, or in PowerShell `Get-Content FILE | \
                                 Set-Content -Encoding utf8 NEWFILE`";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_with_and_without_a_byte_order_mark() {
        let le: Vec<u8> = "{}".encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = "[]".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert_eq!(utf16_encoding(&le), Some("UTF-16 (little-endian)"));
        assert_eq!(utf16_encoding(&be), Some("UTF-16 (big-endian)"));
        assert_eq!(
            utf16_encoding(&[&[0xFF, 0xFE][..], &le].concat()),
            Some("UTF-16 (little-endian, with a byte order mark)")
        );
        assert_eq!(
            utf16_encoding(&[&[0xFE, 0xFF][..], &be].concat()),
            Some("UTF-16 (big-endian, with a byte order mark)")
        );
        for utf8 in [
            &b"{}"[..],
            b"\xEF\xBB\xBF{}",
            b"1",
            b"",
            b"\0\0",
            "é".as_bytes(),
        ] {
            assert_eq!(utf16_encoding(utf8), None, "{utf8:?}");
        }
    }
}

//! Bytes to input text, the same way in every adapter (files, request bodies, JavaScript
//! buffers), so the same bytes get the same answer and the same error code everywhere.

use std::borrow::Cow;

use crate::error::Error;

/// Decodes getConversations input (or options) bytes into text.
///
/// - UTF-8 is the encoding of JSON (RFC 8259 §8.1); a leading byte order mark, which RFC 8259
///   lets parsers ignore and Windows editors write, is dropped.
/// - UTF-16, what Windows PowerShell 5's `>` and `Out-File` and Notepad's "Unicode" write, is
///   decoded: recognized by its byte order mark, or without one by the zero byte beside the
///   first character (JSON text starts with an ASCII character and never holds a zero byte, so
///   UTF-8 JSON is never taken for UTF-16).
///
/// Borrows the bytes when they are UTF-8 already.
///
/// # Errors
/// [`Error::InvalidJson`] with the line and column (in bytes, as serde_json counts them) of the
/// first byte that is not UTF-8, or naming the UTF-16 fault (an odd number of bytes, an unpaired
/// surrogate).
pub fn decode_input(bytes: &[u8]) -> Result<Cow<'_, str>, Error> {
    if let Some(utf16) = Utf16::detect(bytes) {
        return utf16.decode(bytes).map(Cow::Owned);
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let (line, column) = position(valid);
        Error::InvalidJson {
            message: format!("invalid UTF-8 byte 0x{:02x}", bytes[e.valid_up_to()]),
            line,
            column,
        }
    })
}

/// 1-based line and column (in bytes) just after `before`.
fn position(before: &[u8]) -> (usize, usize) {
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, before.len() - line_start + 1)
}

#[derive(Clone, Copy)]
struct Utf16 {
    big_endian: bool,
    /// Bytes of the byte order mark to skip (0 or 2).
    skip: usize,
}

impl Utf16 {
    fn detect(bytes: &[u8]) -> Option<Self> {
        let (big_endian, skip) = match bytes {
            [0xFF, 0xFE, ..] => (false, 2),
            [0xFE, 0xFF, ..] => (true, 2),
            [first, 0, ..] if first.is_ascii() && *first != 0 => (false, 0),
            [0, second, ..] if second.is_ascii() && *second != 0 => (true, 0),
            _ => return None,
        };
        Some(Self { big_endian, skip })
    }

    fn name(self) -> &'static str {
        if self.big_endian {
            "UTF-16 (big-endian)"
        } else {
            "UTF-16 (little-endian)"
        }
    }

    fn decode(self, bytes: &[u8]) -> Result<String, Error> {
        let units = &bytes[self.skip..];
        let invalid = |message: String| Error::InvalidJson {
            message,
            line: 1,
            column: 1,
        };
        if !units.len().is_multiple_of(2) {
            return Err(invalid(format!(
                "the text is {} with an odd number of bytes ({}): it is cut short",
                self.name(),
                bytes.len()
            )));
        }
        let code_units = units.chunks_exact(2).map(|pair| {
            let pair = [pair[0], pair[1]];
            if self.big_endian {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        });
        let mut text = String::with_capacity(units.len() / 2);
        for (index, unit) in char::decode_utf16(code_units).enumerate() {
            match unit {
                Ok(c) => text.push(c),
                Err(e) => {
                    let (line, column) = position(text.as_bytes());
                    return Err(Error::InvalidJson {
                        message: format!(
                            "the text is {} with an unpaired surrogate 0x{:04x} at code unit {index}",
                            self.name(),
                            e.unpaired_surrogate()
                        ),
                        line,
                        column,
                    });
                }
            }
        }
        Ok(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut push = |unit: u16| {
            bytes.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        };
        if bom {
            push(0xFEFF);
        }
        text.encode_utf16().for_each(&mut push);
        bytes
    }

    #[test]
    fn utf8_with_or_without_a_byte_order_mark_is_borrowed() {
        let text = r#"{"agentId": "é"}"#;
        assert!(matches!(decode_input(text.as_bytes()), Ok(Cow::Borrowed(t)) if t == text));
        let with_bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        assert!(matches!(decode_input(&with_bom), Ok(Cow::Borrowed(t)) if t == text));
    }

    #[test]
    fn every_utf16_form_decodes_to_the_same_text() {
        let text = "{\"agentId\": \"x\", \"note\": \"é😀\"}";
        for big_endian in [false, true] {
            for bom in [false, true] {
                let bytes = utf16(text, big_endian, bom);
                assert_eq!(decode_input(&bytes).unwrap(), text, "{big_endian} {bom}");
            }
        }
    }

    #[test]
    fn bad_bytes_are_invalid_json_with_their_position() {
        let error = decode_input(b"{\n  \"a\": \"\xff\"}").unwrap_err();
        assert_eq!(error.code(), "invalid_json");
        assert_eq!(
            error.to_string(),
            "the input is not valid JSON: invalid UTF-8 byte 0xff (line 2, column 9)"
        );

        let mut odd = utf16("{}", false, true);
        odd.push(b' ');
        assert!(
            decode_input(&odd)
                .unwrap_err()
                .to_string()
                .contains("odd number of bytes (7)")
        );

        let mut lone = utf16("{\"a\": \"", false, false);
        lone.extend(0xD800_u16.to_le_bytes());
        lone.extend(utf16("\"}", false, false));
        assert_eq!(
            decode_input(&lone).unwrap_err().to_string(),
            "the input is not valid JSON: the text is UTF-16 (little-endian) with an unpaired \
             surrogate 0xd800 at code unit 7 (line 1, column 8)"
        );
    }

    #[test]
    fn text_that_only_looks_odd_stays_utf8() {
        for bytes in [&b""[..], b"1", b"\0\0", "é".as_bytes()] {
            assert!(Utf16::detect(bytes).is_none(), "{bytes:?}");
        }
    }
}

//! Where getConversations input comes from: a file or stdin, read as one document or as NDJSON
//! (one input per line).
//!
//! Every subcommand that reads input flattens [`InputArgs`], so `FILE|-`, `--ndjson` and
//! `--correlation-id` mean the same thing everywhere. Bytes become text here, and only here. The
//! result of decoding is a `Result<String, convq_core::Error>`: input that is too large or not
//! UTF-8 is rejected with the core's own error codes (`input_too_large`, `invalid_json`), so it
//! gets the same envelope and exit code as any other invalid input. An [`io::Error`] means the
//! input could not be read at all.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;

use anyhow::{Context, bail};
use convq_core::{Error, limits::MAX_INPUT_BYTES};

/// The input arguments shared by every subcommand that reads getConversations input.
#[derive(Debug, clap::Args)]
pub(crate) struct InputArgs {
    /// The input JSON file; `-` or nothing reads stdin.
    #[arg(value_name = "FILE|-")]
    pub(crate) file: Option<PathBuf>,

    /// Read one input per line (NDJSON) and write one JSON line per input, in order, as each
    /// line arrives. Blank lines are skipped; a bad line never stops the rest.
    #[arg(long)]
    pub(crate) ndjson: bool,

    /// Accepted for parity with getConversations(input, correlationId); not part of the query.
    #[arg(long, value_name = "ID")]
    pub(crate) correlation_id: Option<String>,
}

impl InputArgs {
    /// Where to read from.
    pub(crate) fn source(&self) -> Source {
        match &self.file {
            Some(path) if path.as_os_str() != "-" => Source::File(path.clone()),
            _ => Source::Stdin,
        }
    }
}

/// A file or stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Standard input (`-` or no FILE).
    Stdin,
    /// A file path as given.
    File(PathBuf),
}

impl Source {
    /// Opens the source for buffered reading.
    ///
    /// # Errors
    /// The file cannot be opened, or no FILE was given while stdin is a terminal (waiting for
    /// typed input would look like a hang; `-` still reads the terminal on purpose).
    pub(crate) fn open(&self, explicit_stdin: bool) -> anyhow::Result<Box<dyn BufRead>> {
        match self {
            Self::Stdin => {
                let stdin = io::stdin();
                if !explicit_stdin && stdin.is_terminal() {
                    bail!(
                        "no input: give a FILE, pipe the input into stdin, or pass `-` to type it"
                    );
                }
                Ok(Box::new(stdin.lock()))
            }
            Self::File(path) => {
                let file = File::open(path).with_context(|| format!("cannot read {self}"))?;
                Ok(Box::new(BufReader::new(file)))
            }
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Stdin => f.write_str("stdin"),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Reads the whole input as one document.
///
/// Memory stays bounded: at most [`MAX_INPUT_BYTES`] + 1 bytes are kept. A larger input is read
/// to its end without keeping it, so that the `input_too_large` error can state its real size.
///
/// # Errors
/// Reading fails.
pub(crate) fn read_document<R: BufRead + ?Sized>(
    reader: &mut R,
) -> io::Result<Result<String, Error>> {
    let mut bytes = Vec::new();
    reader.take(limit_plus_one()).read_to_end(&mut bytes)?;
    if bytes.len() > MAX_INPUT_BYTES {
        let rest = io::copy(reader, &mut io::sink())?;
        return Ok(Err(too_large(bytes.len() as u64 + rest)));
    }
    Ok(decode(bytes))
}

/// One non-blank line of NDJSON input.
#[derive(Debug)]
pub(crate) struct Line {
    /// 1-based line number in the input, blank lines included.
    pub(crate) number: usize,
    /// The line without its terminator, or why it cannot be compiled.
    pub(crate) text: Result<String, Error>,
}

/// Iterates over the non-blank lines of NDJSON input as they arrive.
///
/// Reads one line at a time (never the whole input first), so a producer that writes a line and
/// waits for its answer gets it. A line longer than [`MAX_INPUT_BYTES`] is skipped to its end
/// without being kept and yields `input_too_large`; the next line is read normally.
pub(crate) struct NdjsonLines<R> {
    reader: R,
    number: usize,
    buf: Vec<u8>,
}

impl<R: BufRead> NdjsonLines<R> {
    pub(crate) fn new(reader: R) -> Self {
        Self {
            reader,
            number: 0,
            buf: Vec::new(),
        }
    }

    /// Reads the next line, blank or not. `None` at the end of the input.
    fn next_line(&mut self) -> io::Result<Option<Result<String, Error>>> {
        self.buf.clear();
        let read = (&mut self.reader)
            .take(limit_plus_one())
            .read_until(b'\n', &mut self.buf)?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if self.buf.last() == Some(&b'\n') {
            self.buf.pop();
        } else if self.buf.len() > MAX_INPUT_BYTES {
            // The limit was reached inside the line: measure the rest without keeping it.
            let (rest, crlf) = skip_line(&mut self.reader, self.buf.last().copied())?;
            let size = self.buf.len() as u64 + rest - u64::from(crlf);
            if size > MAX_INPUT_BYTES as u64 {
                return Ok(Some(Err(too_large(size))));
            }
            // Exactly the limit, then `\r\n` split across the read: the line fits after all.
        }
        if self.buf.last() == Some(&b'\r') {
            self.buf.pop();
        }
        Ok(Some(decode(std::mem::take(&mut self.buf))))
    }
}

impl<R: BufRead> Iterator for NdjsonLines<R> {
    type Item = io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let text = match self.next_line() {
                Ok(Some(text)) => text,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            // JSON's own whitespace only: anything else on the line is input to report.
            if matches!(&text, Ok(t) if t.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r'))) {
                continue;
            }
            return Some(Ok(Line {
                number: self.number,
                text,
            }));
        }
    }
}

/// Consumes the rest of the current line and its terminator. Returns the number of bytes
/// consumed before the `\n`, and whether the byte before the `\n` was a `\r` (part of the
/// terminator, not of the line). `last` is the byte read just before.
fn skip_line<R: BufRead + ?Sized>(reader: &mut R, mut last: Option<u8>) -> io::Result<(u64, bool)> {
    let mut skipped = 0_u64;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok((skipped, false));
        }
        if let Some(newline) = available.iter().position(|&b| b == b'\n') {
            if newline > 0 {
                last = Some(available[newline - 1]);
            }
            skipped += newline as u64;
            reader.consume(newline + 1);
            return Ok((skipped, last == Some(b'\r')));
        }
        last = available.last().copied();
        skipped += available.len() as u64;
        let len = available.len();
        reader.consume(len);
    }
}

/// Text from bytes, as every adapter reads them (`convq_core::decode_input`: UTF-8 with or
/// without a byte order mark, UTF-16 decoded).
fn decode(bytes: Vec<u8>) -> Result<String, Error> {
    convq_core::decode_input(&bytes).map(std::borrow::Cow::into_owned)
}

fn too_large(size: u64) -> Error {
    Error::InputTooLarge {
        size: usize::try_from(size).unwrap_or(usize::MAX),
        limit: MAX_INPUT_BYTES,
    }
}

/// Reading one byte past the limit is how "over the limit" is told apart from "at the limit".
fn limit_plus_one() -> u64 {
    MAX_INPUT_BYTES as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<(usize, Result<String, String>)> {
        NdjsonLines::new(input)
            .map(|line| {
                let line = line.unwrap();
                (line.number, line.text.map_err(|e| e.to_string()))
            })
            .collect()
    }

    #[test]
    fn ndjson_lines_skip_blanks_and_keep_numbers() {
        let input = b"\xEF\xBB\xBF{\"a\":1}\r\n\n  \t\n{\"b\":2}\n{\"c\":3}";
        assert_eq!(
            lines(input),
            vec![
                (1, Ok("{\"a\":1}".to_owned())),
                (4, Ok("{\"b\":2}".to_owned())),
                (5, Ok("{\"c\":3}".to_owned())),
            ]
        );
    }

    #[test]
    fn an_oversized_line_is_measured_skipped_and_reading_goes_on() {
        let mut input = vec![b'x'; MAX_INPUT_BYTES + 10];
        input.extend_from_slice(b"\r\n{}\n");
        // Exactly the limit, ended by `\r\n`: the read stops between `\r` and `\n`.
        let mut exact = vec![b' '; MAX_INPUT_BYTES - 2];
        exact.extend_from_slice(b"{}\r\n");
        input.extend_from_slice(&exact);
        input.extend_from_slice(b"[]");
        let got = lines(&input);
        assert_eq!(
            got.len(),
            4,
            "{:?}",
            got.iter().map(|l| l.0).collect::<Vec<_>>()
        );
        assert_eq!(
            got[0],
            (
                1,
                Err(format!(
                    "the input is {} bytes; the limit is {MAX_INPUT_BYTES} bytes",
                    MAX_INPUT_BYTES + 10
                ))
            )
        );
        assert_eq!(got[1], (2, Ok("{}".to_owned())));
        // A line of exactly the limit is not too large.
        assert_eq!(got[2].0, 3);
        assert_eq!(got[2].1.as_ref().map(String::len), Ok(MAX_INPUT_BYTES));
        assert_eq!(got[3], (4, Ok("[]".to_owned())));
    }

    #[test]
    fn a_large_document_reports_its_full_size() {
        let input = vec![b' '; MAX_INPUT_BYTES * 3];
        let err = read_document(&mut &input[..]).unwrap().unwrap_err();
        assert_eq!(err.code(), "input_too_large");
        assert_eq!(
            err,
            Error::InputTooLarge {
                size: MAX_INPUT_BYTES * 3,
                limit: MAX_INPUT_BYTES
            }
        );
        let at_limit = vec![b' '; MAX_INPUT_BYTES];
        assert!(read_document(&mut &at_limit[..]).unwrap().is_ok());
    }

    #[test]
    fn documents_are_decoded_as_every_adapter_decodes_them() {
        let text = r#"{"agentId":"2b330c52-6844-4d36-8e05-03c78c9681dc"}"#;
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode([&[0xFF, 0xFE][..], &le].concat()).unwrap(), text);
        assert_eq!(decode(b"\xEF\xBB\xBF{}".to_vec()), Ok("{}".to_owned()));
    }

    #[test]
    fn invalid_utf8_is_invalid_json_with_its_position() {
        let err = decode(b"{\n  \"agentId\": \"\xff\"}".to_vec()).unwrap_err();
        assert_eq!(
            err,
            Error::InvalidJson {
                message: "invalid UTF-8 byte 0xff".to_owned(),
                line: 2,
                column: 15,
            }
        );
    }
}

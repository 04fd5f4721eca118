//! `file-read-wordcount`: storm-perf's FileReadWordCountTopo, the word
//! count over the lines of a text file.
//!
//! The file ([`BuiltinOptions::file`]) is read once when the topology is
//! built, split into lines, and the spout cycles through its non-blank
//! lines as sentences (storm-perf's spout re-reads its file in a loop; here
//! the lines are read up front, so the figures measure the engine, not the
//! disk). Without a file, a generated text of [`GENERATED_LINES`] lines is
//! used ([`generated_text`]). The topology is otherwise
//! [`wordcount`](super::wordcount::wordcount)'s.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use gale_codec::Value;

use super::error::Failure;
use super::options::BuiltinOptions;
pub use super::text_error::TextError;
use super::wordcount::{wordcount_of, Sentences, WordCount};

/// Lines of the generated text.
pub const GENERATED_LINES: usize = 10_000;

/// The non-blank lines of the file at `path`, trimmed, in order.
pub fn read_lines(path: &Path) -> Result<Vec<String>, TextError> {
    let bytes = fs::read(path).map_err(|e| TextError::Read {
        path: path.to_owned(),
        kind: e.kind(),
        message: e.to_string(),
    })?;
    let mut lines = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = std::str::from_utf8(line).map_err(|_| TextError::NotUtf8 {
            path: path.to_owned(),
            line: i + 1,
        })?;
        let line = line.trim();
        if !line.is_empty() {
            lines.push(line.to_owned());
        }
    }
    if lines.is_empty() {
        return Err(TextError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(lines)
}

/// A deterministic text of [`GENERATED_LINES`] lines of 4 to 15 words
/// drawn from a vocabulary of 2,000 made-up words, frequent ones more
/// often (roughly as in prose).
pub fn generated_text() -> Vec<String> {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "da", "fo", "gu", "ha", "ji", "pe",
        "zo",
    ];
    let vocabulary: Vec<String> = (0..2_000usize)
        .map(|n| {
            let mut word = String::new();
            let mut n = n + 16;
            while n > 0 {
                word.push_str(SYLLABLES[n % 16]);
                n /= 16;
            }
            word
        })
        .collect();
    // xorshift64: the text is the same on every machine and every run.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..GENERATED_LINES)
        .map(|_| {
            let words = 4 + next() % 12;
            let mut line = String::new();
            for w in 0..words {
                // The square of a uniform draw favours low indices.
                let u = (next() % 1_000) as usize;
                let index = u * u * vocabulary.len() / 1_000_000;
                if w > 0 {
                    line.push(' ');
                }
                line.push_str(&vocabulary[index]);
            }
            line
        })
        .collect()
}

/// The sentences `opts` asks for: the lines of `opts.file`, or the
/// generated text.
pub fn sentences(opts: &BuiltinOptions) -> Result<Sentences, TextError> {
    let lines = match &opts.file {
        Some(path) => read_lines(path)?,
        None => generated_text(),
    };
    Ok(Arc::new(
        lines.into_iter().map(|l| [Value::Str(l)]).collect(),
    ))
}

/// Builds the word count of `file-read-wordcount` over
/// [`sentences`]`(opts)`.
pub(crate) fn file_read_wordcount(opts: &BuiltinOptions) -> Result<WordCount, Failure> {
    let sentences = sentences(opts)?;
    Ok(wordcount_of("file-read-wordcount", sentences, opts)?)
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    #[test]
    fn generated_text_is_deterministic_and_wordy() {
        let a = generated_text();
        assert_eq!(a, generated_text());
        assert_eq!(a.len(), GENERATED_LINES);
        assert!(a.iter().all(|l| (4..16).contains(&l.split(' ').count())));
    }

    /// The text `scripts/bench-all` measures the word count's target on:
    /// the word count's own sentences, one per line.
    #[test]
    fn the_ten_sentences_file_is_the_word_counts() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/text/sentences.txt");
        let lines = read_lines(&path).unwrap();
        assert_eq!(lines, super::super::wordcount::SENTENCES);
    }

    #[test]
    fn file_errors_are_typed() {
        let dir = std::env::temp_dir().join(format!("gale-text-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.txt");
        assert!(matches!(
            read_lines(&missing),
            Err(TextError::Read {
                kind: io::ErrorKind::NotFound,
                ..
            })
        ));
        let blank = dir.join("blank.txt");
        fs::write(&blank, "\n  \n").unwrap();
        assert!(matches!(read_lines(&blank), Err(TextError::Empty { .. })));
        let binary = dir.join("binary.txt");
        fs::write(&binary, b"fine line\n\xff\xfe\n").unwrap();
        assert_eq!(
            read_lines(&binary),
            Err(TextError::NotUtf8 {
                path: binary.clone(),
                line: 2
            })
        );
        let good = dir.join("good.txt");
        fs::write(&good, "a b\r\n\n c \n").unwrap();
        assert_eq!(read_lines(&good).unwrap(), ["a b", "c"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}

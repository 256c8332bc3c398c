//! HL7 v2 escape sequences, read and written with the message's own escape
//! character.
//!
//! Read: `\F\` `\S\` `\T\` `\R\` `\E\` become the separators, `\Xhh…\` the
//! bytes it spells (as UTF-8, replacing what is not), `\.br\` a line break;
//! formatting sequences (`\H\`, `\N\`, `\Zxx\`, `\Cxx\`, `\Mxx\`, other `\.xx\`)
//! are dropped. An escape that is never closed is kept as written.

use hl7_parser::message::Separators;

/// Reads the escape sequences in `value`.
pub fn unescape(value: &str, separators: &Separators) -> String {
    let escape = separators.escape;
    if !value.contains(escape) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find(escape) {
        out.push_str(&rest[..start]);
        let after = &rest[start + escape.len_utf8()..];
        let Some(end) = after.find(escape) else {
            // Never closed: keep the text as it was sent.
            out.push_str(&rest[start..]);
            return out;
        };
        let sequence = &after[..end];
        match sequence {
            "F" => out.push(separators.field),
            "S" => out.push(separators.component),
            "T" => out.push(separators.subcomponent),
            "R" => out.push(separators.repetition),
            "E" => out.push(escape),
            ".br" => out.push('\n'),
            hex if hex.starts_with('X') => out.push_str(&decode_hex(&hex[1..])),
            _ => {}
        }
        rest = &after[end + escape.len_utf8()..];
    }
    out.push_str(rest);
    out
}

fn decode_hex(digits: &str) -> String {
    let bytes: Vec<u8> = digits
        .as_bytes()
        .chunks(2)
        .filter_map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Writes `value` so that it can stand in a field: separators and line
/// breaks become escape sequences.
pub fn escape(value: &str, separators: &Separators) -> String {
    let e = separators.escape;
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        let code = if c == separators.field {
            Some("F")
        } else if c == separators.component {
            Some("S")
        } else if c == separators.subcomponent {
            Some("T")
        } else if c == separators.repetition {
            Some("R")
        } else if c == e {
            Some("E")
        } else if c == '\r' {
            Some("X0D")
        } else if c == '\n' {
            Some("X0A")
        } else {
            None
        };
        match code {
            Some(code) => {
                out.push(e);
                out.push_str(code);
                out.push(e);
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seps() -> Separators {
        Separators::default()
    }

    #[test]
    fn every_standard_escape_is_read() {
        assert_eq!(
            unescape(r"A\F\B\S\C\T\D\R\E\E\F\X41C3A9\G\.br\H", &seps()),
            "A|B^C&D~E\\FAéG\nH"
        );
    }

    #[test]
    fn non_ascii_text_around_escapes_is_kept() {
        // The parser crate's own decoder slices bytes at character counts,
        // which breaks here; ours must not.
        assert_eq!(unescape(r"Zoë \T\ Chloé", &seps()), "Zoë & Chloé");
    }

    #[test]
    fn formatting_sequences_are_dropped_and_unclosed_escapes_kept() {
        assert_eq!(unescape(r"\H\Ward\N\ 5", &seps()), "Ward 5");
        assert_eq!(unescape(r"St Mary\S", &seps()), r"St Mary\S");
    }

    proptest! {
        #[test]
        fn escaping_then_reading_gives_the_text_back(text in "\\PC{0,40}") {
            prop_assert_eq!(unescape(&escape(&text, &seps()), &seps()), text);
        }

        #[test]
        fn reading_never_panics(text in any::<String>()) {
            let _ = unescape(&text, &seps());
        }
    }
}

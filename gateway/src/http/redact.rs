//! The one redaction function for text that came from a request (a path, a query value, a
//! header, an error message quoting either) before it reaches a log line, an audit
//! record's detail or an error message: anything that could be a CPR number goes.
//!
//! "Could be" is generous on purpose. The text is percent-decoded first (`%30` is `0`),
//! every Unicode decimal digit counts as a digit (`０`, `٠`, ...), and a run of digits with
//! separators between them (space, `-`, `.`, `/`, `_`, `:`, `,`, `+`) is one number: a run
//! with six or more digits (a CPR's date part alone) is replaced by `[redacted]`. Letters
//! around a run do not hide it (`x0104609903` becomes `x[redacted]`).

use std::borrow::Cow;

/// What a redacted run is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Digits in a run from which it is redacted.
const MIN_DIGITS: usize = 6;

fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '/' | '_' | ':' | ',' | '+' | '\u{a0}' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// Percent-decodes `s` (invalid escapes stay as they are; bytes that are not UTF-8 become
/// U+FFFD).
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = ((b[i + 1] as char).to_digit(16), (b[i + 2] as char).to_digit(16))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Whether `s` holds something that could be a CPR number (see the module).
pub fn holds_number(s: &str) -> bool {
    scan(s).1
}

/// Whether a query string (as sent, without `?`) holds something that could be a CPR
/// number in a key or a value. A value of ASCII digits alone is a number (a cursor, an
/// index) and counts only when it could be a CPR number itself.
pub fn query_holds_cpr(raw: &str) -> bool {
    raw.split('&').any(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let number = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
        holds_number(k)
            || if number { v.len() == 10 && consent::Cpr::parse(v).is_ok() || v.len() > 18 } else { holds_number(v) }
    })
}

/// `s` with every possible CPR number replaced by [`REDACTED`] (decoded when it had to be
/// decoded to look inside); borrowed when there was nothing to replace.
pub fn redact(s: &str) -> Cow<'_, str> {
    scan(s).0
}

/// The redacted text, and whether anything was redacted.
fn scan(s: &str) -> (Cow<'_, str>, bool) {
    let decoded = percent_decode(s);
    let mut out = String::with_capacity(decoded.len());
    let mut run = String::new();
    let mut digits = 0usize;
    let mut changed = false;
    let flush = |run: &mut String, digits: &mut usize, out: &mut String, changed: &mut bool| {
        if *digits >= MIN_DIGITS {
            // Keep separators that trail the number (they were not part of it).
            let kept = run.trim_end_matches(is_separator);
            let tail = &run[kept.len()..];
            out.push_str(REDACTED);
            out.push_str(tail);
            *changed = true;
        } else {
            out.push_str(run);
        }
        run.clear();
        *digits = 0;
    };
    for c in decoded.chars() {
        if digit_value(c).is_some() {
            run.push(c);
            digits += 1;
        } else if is_separator(c) && digits > 0 {
            run.push(c);
        } else {
            flush(&mut run, &mut digits, &mut out, &mut changed);
            out.push(c);
        }
    }
    flush(&mut run, &mut digits, &mut out, &mut changed);
    if changed {
        (Cow::Owned(out), true)
    } else if let Cow::Owned(d) = decoded {
        (Cow::Owned(d), false)
    } else {
        (Cow::Borrowed(s), false)
    }
}

/// The value of a decimal digit of any script (general category Nd: the blocks of ten
/// listed by their zero; `char::is_numeric` also holds for fractions and Roman numerals,
/// which are not digits).
pub fn digit_value(c: char) -> Option<u32> {
    if let Some(d) = c.to_digit(10) {
        return Some(d);
    }
    const ZEROS: &[u32] = &[
        0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50,
        0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50,
        0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC,
        0x1D7F6,
    ];
    let u = c as u32;
    ZEROS.iter().find(|z| (**z..**z + 10).contains(&u)).map(|z| u - z)
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// CPR numbers of the synthetic kind: a real date, any sequence number.
    pub(crate) fn cpr_digits() -> impl Strategy<Value = String> {
        (1u32..=28, 1u32..=12, 0u32..=99, 0u32..=9999).prop_map(|(d, m, y, s)| format!("{d:02}{m:02}{y:02}{s:04}"))
    }

    /// One CPR number written in one of many ways a client might: separators, percent
    /// encoding, full-width or Arabic-Indic digits, letters around it, a trailing newline.
    pub(crate) fn formatted(cpr: &str, style: u8) -> String {
        let (a, b) = cpr.split_at(6);
        let (d, rest) = a.split_at(2);
        let (m, y) = rest.split_at(2);
        let shift = |base: u32| cpr.chars().map(|c| char::from_u32(base + c.to_digit(10).unwrap()).unwrap()).collect();
        match style % 14 {
            0 => cpr.to_string(),
            1 => format!("{a}-{b}"),
            2 => format!("{d}.{m}.{y}.{b}"),
            3 => format!("{d} {m} {y} {b}"),
            4 => format!("{d}/{m}/{y}-{b}"),
            5 => cpr.chars().map(|c| format!("%3{c}")).collect(),
            6 => format!("{cpr}%0A"),
            7 => format!("x{cpr}"),
            8 => format!("cpr:{a}_{b}z"),
            9 => shift(0xFF10),
            10 => shift(0x0660),
            11 => format!("{a}%2D{b}"),
            12 => format!("{d}-{m}-{y}-{b}"),
            _ => format!("abc{a}{b}def"),
        }
    }

    /// Whether `text`, however written, still shows the number.
    pub(crate) fn shows(text: &str, cpr: &str) -> bool {
        let digits: String =
            percent_decode(text).chars().filter_map(|c| digit_value(c).and_then(|d| char::from_digit(d, 10))).collect();
        digits.contains(cpr) || digits.contains(&cpr[..6])
    }

    #[test]
    fn examples() {
        assert_eq!(redact("/api/v1/case-files"), "/api/v1/case-files");
        assert_eq!(redact("/x/0101901234"), "/x/[redacted]");
        assert_eq!(redact("/x/01.04.60.9903/y"), "/x/[redacted]/y");
        assert_eq!(redact("010460-9903"), "[redacted]");
        assert_eq!(redact("x0104609903"), "x[redacted]");
        assert_eq!(redact("0104609903%0A"), "[redacted]\n");
        assert_eq!(redact("v1/abc-12"), "v1/abc-12");
        assert_eq!(redact("2026"), "2026");
        assert!(holds_number("%30%31%30%34%36%30%39%39%30%33"));
        assert!(holds_number("０１０４６０９９０３"));
        assert!(!holds_number("kk.jobcenter.rehab"));
        assert!(!holds_number("decision,%20release"));
        assert!(!query_holds_cpr("before=123456789&x=abc"));
        assert!(query_holds_cpr("before=0104609903"));
        assert!(query_holds_cpr("q=01.04.60.9903"));
        assert!(query_holds_cpr("0104609903"));
    }

    proptest! {
        #[test]
        fn no_formatting_of_a_cpr_survives(cpr in cpr_digits(), style in 0u8..14, pre in "[a-z/=&?]{0,6}", post in "[a-z/=&?]{0,6}") {
            let text = format!("{pre}{}{post}", formatted(&cpr, style));
            prop_assert!(shows(&text, &cpr), "the generator writes the number: {}", text);
            let r = redact(&text);
            prop_assert!(!shows(&r, &cpr), "{} -> {}", text, r);
            prop_assert!(holds_number(&text));
        }
    }
}

//! Lexical building blocks of the RFC 3261 §25.1 grammar shared by the URI, typed-header and
//! message parsers: character classes, linear white space, quoted strings and `;name=value`
//! parameter lists.
//!
//! Everything here works on header values whose line folding is already collapsed (§7.3.1), so
//! LWS is just runs of SP / HTAB. Nothing here allocates except the parameter list it returns.

use super::ParseErrorKind;
use crate::sip::uri::Params;

/// `token` characters (§25.1): alphanum and `-.!%*_+`'~`.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Whether `s` is a non-empty `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// SP or HTAB: what is left of LWS once folding is collapsed.
pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// `s` without leading SP / HTAB.
pub(crate) fn skip_ws(s: &str) -> &str {
    s.trim_start_matches([' ', '\t'])
}

/// `s` without leading or trailing SP / HTAB.
pub(crate) fn trim_ws(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// The longest prefix of `s` whose bytes satisfy `pred`, and the rest.
pub(crate) fn take_while(s: &str, pred: impl Fn(u8) -> bool) -> (&str, &str) {
    let n = s.bytes().position(|b| !pred(b)).unwrap_or(s.len());
    // `pred` only ever accepts ASCII bytes here, so `n` is a char boundary; fall back to the
    // whole string rather than panic if a caller ever passes a non-ASCII predicate.
    if s.is_char_boundary(n) {
        s.split_at(n)
    } else {
        (s, "")
    }
}

/// The byte length of the quoted string (§25.1 `quoted-string`, quotes included) that `s` starts
/// with, or `None` when it is not terminated. `quoted-pair` (`\` + any octet but CR/LF) escapes
/// the next octet, so `\"` does not close the string.
pub(crate) fn quoted_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            b'\r' | b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

/// `escaped = "%" HEXDIG HEXDIG`: whether every `%` in `s` starts a valid escape.
pub(crate) fn escapes_valid(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'%', &b[i..]) {
        let p = i + off;
        let ok = b.get(p + 1).is_some_and(u8::is_ascii_hexdigit)
            && b.get(p + 2).is_some_and(u8::is_ascii_hexdigit);
        if !ok {
            return false;
        }
        i = p + 3;
    }
    true
}

/// `unreserved` (§25.1): alphanum and the marks `-_.!~*'()`.
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b)
}

/// `uric` minus `%` (checked by [`escapes_valid`]): reserved, unreserved.
pub(crate) fn is_uric(b: u8) -> bool {
    is_unreserved(b) || b";/?:@&=+$,".contains(&b) || b == b'%'
}

/// Characters of a header parameter value that is not a quoted string: `token`, or `host`
/// (which adds `:` `[` `]` for IPv6, e.g. Via `received=2001:db8::1`).
fn is_gen_value_char(b: u8) -> bool {
    is_token_char(b) || b == b':' || b == b'[' || b == b']'
}

/// Parses header parameters `*( SEMI generic-param )` (§25.1), with optional LWS around `;`
/// and `=` (SEMI and EQUAL are `SWS x SWS`). `s` must be empty or start (after LWS) with `;`.
/// Values are kept as written: a quoted value keeps its quotes.
pub(crate) fn header_params(mut s: &str) -> Result<Params, ParseErrorKind> {
    let mut params = Params::default();
    s = skip_ws(s);
    while !s.is_empty() {
        s = s.strip_prefix(';').ok_or(ParseErrorKind::BadValue {
            what: "header parameters",
            reason: "expected `;` before a parameter",
        })?;
        let (name, rest) = take_while(skip_ws(s), is_token_char);
        if name.is_empty() {
            return Err(ParseErrorKind::BadValue {
                what: "header parameters",
                reason: "empty parameter name",
            });
        }
        s = skip_ws(rest);
        let mut value = None;
        if let Some(rest) = s.strip_prefix('=') {
            let rest = skip_ws(rest);
            let (v, rest) = if rest.starts_with('"') {
                let n = quoted_len(rest).ok_or(ParseErrorKind::BadValue {
                    what: "header parameters",
                    reason: "unterminated quoted parameter value",
                })?;
                rest.split_at(n)
            } else {
                take_while(rest, is_gen_value_char)
            };
            if v.is_empty() {
                return Err(ParseErrorKind::BadValue {
                    what: "header parameters",
                    reason: "empty parameter value after `=`",
                });
            }
            value = Some(v.to_owned());
            s = skip_ws(rest);
        }
        params.0.push((name.to_owned(), value));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_params_accept_lws_around_separators() {
        let p = header_params(" ;   tag    = 1918181833n ; lr ; q = 0.33").unwrap();
        assert_eq!(p.to_string(), ";tag=1918181833n;lr;q=0.33");
    }

    #[test]
    fn header_params_keep_quoted_values() {
        let p = header_params(r#";x="a;b \" c";y=[2001:db8::1]"#).unwrap();
        assert_eq!(p.value("x"), Some(r#""a;b \" c""#));
        assert_eq!(p.value("y"), Some("[2001:db8::1]"));
    }

    #[test]
    fn header_params_reject_empty_names_and_values() {
        assert!(header_params(";;").is_err());
        assert!(header_params(";a=").is_err());
        assert!(header_params("junk").is_err());
        assert!(header_params(r#";a="open"#).is_err());
    }

    #[test]
    fn quoted_len_honours_quoted_pairs() {
        assert_eq!(quoted_len(r#""a\"b" rest"#), Some(6));
        assert_eq!(quoted_len(r#""J Rosenberg \\\"""#), Some(18));
        assert_eq!(quoted_len(r#""open"#), None);
        assert_eq!(quoted_len(r#""ends in backslash\"#), None);
    }

    #[test]
    fn escapes_must_be_two_hex_digits() {
        assert!(escapes_valid("a%20b%00"));
        assert!(!escapes_valid("100%"));
        assert!(!escapes_valid("%4"));
        assert!(!escapes_valid("%ZK"));
    }
}

//! The lexical layer of `ssh_config`: one line into a keyword and its arguments, OpenSSH's way
//! (`Key Value`, `Key=Value`, `Key = Value`, double or single quotes, `#` starting a comment at
//! the start of a word), OpenSSH's pattern lists (`*`, `?`, `!` negation), and its time format
//! (`90`, `1m30s`, `2h`).
//!
//! It never reads a file and never decides what a keyword means: that is `resolve`'s job.

/// A line split into its keyword and arguments; `None` for a blank or comment line.
pub fn split_line(line: &str) -> Result<Option<(String, Vec<String>)>, String> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    // The keyword ends at whitespace or at the first `=`.
    let end = trimmed
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(trimmed.len());
    let keyword = trimmed[..end].to_string();
    let mut rest = trimmed[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    Ok(Some((keyword, split_args(rest)?)))
}

/// Arguments separated by whitespace; quotes group, a `#` at the start of a word ends the line.
fn split_args(s: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some('#') => break,
            _ => {}
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '"' | '\'' => {
                    let mut closed = false;
                    for q in chars.by_ref() {
                        if q == c {
                            closed = true;
                            break;
                        }
                        word.push(q);
                    }
                    if !closed {
                        return Err(format!("unterminated quote ({c})"));
                    }
                }
                '\\' => match chars.next() {
                    Some(n) => word.push(n),
                    None => word.push('\\'),
                },
                _ => word.push(c),
            }
        }
        args.push(word);
    }
    Ok(args)
}

/// `*` and `?` glob, case-sensitive as OpenSSH's `match_pattern`: the core's, which matches
/// algorithm names the same way.
pub use sshdiag_core::algorithms::glob;

/// OpenSSH's `match_pattern_list`: a comma-separated list matches when one positive pattern
/// matches and no `!` pattern does.
pub fn pattern_list_matches(list: &str, name: &str) -> bool {
    let mut positive = false;
    for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, name) {
                return false;
            }
        } else if glob(p, name) {
            positive = true;
        }
    }
    positive
}

/// OpenSSH's `convtime`: seconds, or a sequence of number+unit (`s`, `m`, `h`, `d`, `w`).
pub fn parse_time(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            digits.push(c);
            if chars.peek().is_none() {
                total = total.checked_add(digits.parse::<u64>().ok()?)?;
            }
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 604_800,
            _ => return None,
        };
        if digits.is_empty() {
            return None;
        }
        total = total.checked_add(digits.parse::<u64>().ok()?.checked_mul(unit)?)?;
        digits.clear();
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(l: &str) -> (String, Vec<String>) {
        split_line(l).unwrap().unwrap()
    }

    #[test]
    fn lines_split_as_openssh_reads_them() {
        assert_eq!(split("  HostName=example.com").1, vec!["example.com"]);
        assert_eq!(split("User = bob # who").1, vec!["bob"]);
        assert_eq!(split("Port\t2222").0, "Port");
        assert_eq!(
            split("IdentityFile \"/a b/key\" x#y").1,
            vec!["/a b/key", "x#y"]
        );
        assert!(split_line("   # only a comment").unwrap().is_none());
        assert!(split_line("").unwrap().is_none());
        assert!(split_line("User \"bob").is_err());
    }

    #[test]
    fn patterns_and_negation() {
        assert!(pattern_list_matches("*.prod,!bad.prod", "a.prod"));
        assert!(!pattern_list_matches("*.prod,!bad.prod", "bad.prod"));
        assert!(!pattern_list_matches("!bad.prod", "x"));
        assert!(pattern_list_matches("web?", "web1"));
        assert!(!pattern_list_matches("web?", "web12"));
        assert!(!pattern_list_matches("Web", "web"));
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("90"), Some(90));
        assert_eq!(parse_time("1m30s"), Some(90));
        assert_eq!(parse_time("2h"), Some(7200));
        assert_eq!(parse_time("x"), None);
        assert_eq!(parse_time("m"), None);
    }
}

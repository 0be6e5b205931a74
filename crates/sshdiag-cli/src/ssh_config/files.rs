//! File-name globbing for `Include`, as `glob(3)` does it for OpenSSH: `*`, `?` in any path
//! component, results in lexical order, hidden files only when the pattern component starts
//! with a dot, and the one bounded read of a configuration file.

use std::io::Read as _;
use std::path::{Component, Path, PathBuf};

use super::lex::glob;

/// The most a configuration file may hold: far past any real one (OpenSSH's own are a few
/// KiB), and the bound on what `-F /dev/zero` or an `Include` of a device or a huge file makes
/// the CLI read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a configuration file, at most [`MAX_CONFIG_BYTES`]; a larger one (or an endless
/// device) is an error naming the limit, not a CLI that eats the machine's memory.
pub fn read_config(path: &Path) -> std::io::Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_CONFIG_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("over {MAX_CONFIG_BYTES} bytes: too large for a configuration file"),
        ));
    }
    Ok(text)
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?'])
}

/// The existing paths matching `pattern`, sorted; a pattern without wildcards is returned as
/// it is (the caller skips it when it does not exist).
pub fn glob_paths(pattern: &Path) -> Vec<PathBuf> {
    let text = pattern.to_string_lossy();
    if !has_wildcard(&text) {
        return vec![pattern.to_path_buf()];
    }
    let mut found = vec![PathBuf::new()];
    for comp in pattern.components() {
        let part = match comp {
            Component::Normal(p) => p.to_string_lossy().into_owned(),
            other => {
                for f in &mut found {
                    f.push(other.as_os_str());
                }
                continue;
            }
        };
        if !has_wildcard(&part) {
            for f in &mut found {
                f.push(&part);
            }
            continue;
        }
        let mut next = Vec::new();
        for dir in &found {
            let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            }) else {
                continue;
            };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| (!n.starts_with('.') || part.starts_with('.')) && glob(&part, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| dir.join(n)));
        }
        found = next;
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_in_lexical_order_and_skips_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.conf", "a.conf", ".hidden.conf", "c.txt"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let got = glob_paths(&dir.path().join("*.conf"));
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.conf", "b.conf"]);
        assert_eq!(
            glob_paths(&dir.path().join("none-*")),
            Vec::<PathBuf>::new()
        );
    }

    #[test]
    fn a_configuration_read_is_bounded() {
        // `-F /dev/null` is a common way to say "no configuration": it reads as empty.
        assert_eq!(read_config(Path::new("/dev/null")).unwrap(), "");
        // An endless device (`Include /dev/zero`, as a fuzzer writes it) is refused at the limit.
        let error = read_config(Path::new("/dev/zero")).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("too large for a configuration file"),
            "{error}"
        );
    }
}

//! File-name globbing for `Include`, as `glob(3)` does it for OpenSSH: `*`, `?` in any path
//! component, results in lexical order, hidden files only when the pattern component starts
//! with a dot. It only lists directories; it never reads a file.

use std::path::{Component, Path, PathBuf};

use super::lex::glob;

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
}

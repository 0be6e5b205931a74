//! The process table under `/proc`, for cleaning up: who is whose child, and which are
//! zombies. Shared by the test harness (killing an sshd fixture's whole tree) and xtask
//! (ending what a test run left behind), which compiles this file by path.

/// Every pid in `/proc`.
pub fn pids() -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()))
        .collect()
}

/// A process's parent pid and state letter (`R`, `S`, `Z`, …), from `/proc/PID/stat`.
pub fn stat(pid: u32) -> Option<(u32, char)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: the fields start after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// The parent of `pid`, if it exists.
pub fn parent_pid(pid: u32) -> Option<u32> {
    stat(pid).map(|(ppid, _)| ppid)
}

/// All living descendants of `root` (not `root` itself), parents before children. Zombies are
/// left out: they are dead already, and reaping is their parent's business.
pub fn descendants(root: u32) -> Vec<u32> {
    let links: Vec<(u32, u32)> = pids()
        .into_iter()
        .filter_map(|pid| match stat(pid) {
            Some((ppid, state)) if state != 'Z' => Some((pid, ppid)),
            _ => None,
        })
        .collect();
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        for &(pid, ppid) in &links {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
            }
        }
        index += 1;
    }
    found.remove(0);
    found
}

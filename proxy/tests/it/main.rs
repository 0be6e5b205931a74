//! Integration tests of `sshdiag-proxy`: a real relay on port 0, real WebSockets, real TCP on
//! loopback, a real SSH server and client. One test binary, shared fixtures in `util`.

mod data;
mod demo;
mod limits;
mod observability;
mod policy;
mod ssh;
mod tokens;
mod util;

//! The headline of an outcome: the one plain sentence a person reads first ("The server
//! rejected the login"), in place of a type name. The page shows it above the verdict, with the
//! error type and code beside it; the CLI's summary starts with it.
//!
//! This is the only place these sentences live: one per failure code where the code says more
//! than its type, else one per error type. A headline names what happened, never why: the
//! verdict's summary and hints, built from the run's evidence, say why and what to do. This
//! module holds text only; it never reads events and never formats a value into a sentence (a
//! headline can be shown before redaction and needs none).

use crate::codes::{Code, ErrorType};

/// The headline of a finished session: `ok`, else its error type and message code (the
/// verdict's). An unknown code falls back to the type's sentence, an unknown type to a
/// sentence that still says it failed.
pub fn headline(ok: bool, error_type: Option<ErrorType>, code: &str) -> &'static str {
    if ok {
        return "It works";
    }
    if let Some(sentence) = Code::from_wire(code).and_then(code_headline) {
        return sentence;
    }
    match error_type {
        Some(t) => type_headline(t),
        None => "The diagnosis did not finish",
    }
}

/// The sentence of a code finer than its type; `None` where the type's sentence says it.
fn code_headline(code: Code) -> Option<&'static str> {
    Some(match code {
        Code::ProxyDeniedPrivateAddress => "The relay does not connect to internal addresses",
        Code::ProxyDeniedTokenInvalid => "The relay did not accept the access token",
        Code::ProxyDeniedTokenExpired => "The relay's access token has expired",
        Code::ProxyLimit => "The relay's limit was reached",
        Code::HostKeyRevoked => "The server's host key is marked as revoked",
        Code::HostCertificateRefused => "The server's host certificate was refused",
        Code::HostKeyTypeChanged => "The server now presents a host key of another type",
        Code::ResetBeforeBanner => "The server cut the connection before saying anything",
        Code::ClosedBeforeBanner => "The server hung up before saying anything",
        Code::RefusedBeforeBanner => "The server turned the connection away",
        Code::BannerTarpit => "The server keeps talking but never starts SSH",
        Code::ProtocolVersionUnsupported => "The server speaks only the obsolete SSH-1",
        Code::AuthIncomplete => "The login needs a further step that was not completed",
        Code::AuthDisconnected => "The server hung up during the login",
        Code::PasswordExpired => "The account's password has expired",
        Code::ShellDisabled => "The login works, but the account may not open a shell",
        Code::ShellExitsAtOnce => "The login works, but every session ends at once",
        Code::ForcedCommand => "The login works, but the server runs a fixed command instead",
        Code::ShellStartupOutput => "The login works, but startup output breaks scp and sftp",
        Code::SessionNoAnswer => "The login works, but a session never answered",
        Code::TerminalRefused => "The login works, but the server refuses a terminal",
        Code::SessionLimit => "The login works, but the server allows no more sessions",
        Code::ForwardProhibited => "The server forbids this forward",
        Code::ForwardRefused => "Nothing answered at the forward's target",
        Code::ForwardUnreachable => "The server cannot reach the forward's target",
        _ => return None,
    })
}

/// The sentence of each error type.
pub fn type_headline(error_type: ErrorType) -> &'static str {
    match error_type {
        ErrorType::ProxyUnreachable => "The relay could not be reached",
        ErrorType::ProxyDenied => "The relay refused to connect to this server",
        ErrorType::DnsFailure => "The server's name could not be found",
        ErrorType::ConnectionRefused => "The server refused the connection",
        ErrorType::ConnectionTimeout => "The server did not answer",
        ErrorType::HostUnreachable => "There is no route to the server",
        ErrorType::NotSsh => "Something answered, but it is not an SSH server",
        ErrorType::BannerTimeout => "The server accepted the connection but never spoke SSH",
        ErrorType::NoMutualKex => "The client and the server share no algorithm",
        ErrorType::KexFailed => "The secure connection could not be set up",
        ErrorType::HostKeyMismatch => "The server's identity changed",
        ErrorType::HostKeyUnknown => "The server's identity is not known yet",
        ErrorType::KeyLoadError => "The private key could not be used",
        ErrorType::AuthFailed => "The server rejected the login",
        ErrorType::AgentError => "The SSH agent could not be used",
        ErrorType::ChannelOpenFailed => "The login works, but the server refused a session",
        ErrorType::ExecFailed => "The login works, but the server refused to run the command",
        ErrorType::ForwardFailed => "The forward did not connect",
        ErrorType::Disconnected => "The connection was lost",
        ErrorType::KeepaliveTimeout => "The connection went silent",
        ErrorType::Timeout => "The diagnosis ran out of time",
        ErrorType::Internal => "sshdiag hit a bug",
        ErrorType::InvalidInput => "An option or file given to sshdiag is not valid",
        ErrorType::Cancelled => "The diagnosis was stopped",
    }
}

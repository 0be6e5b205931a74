//! Jump-host chains (OpenSSH's `ProxyJump`): the servers passed through before the target.
//!
//! Each jump host is diagnosed like a target, with its own [`Session`] over the run's
//! recorder: connect (the first one only, through the caller's connector), banner, key
//! exchange, host key (checked under its own host name and port), authentication (its own
//! credentials, or the target's). Every further server is reached through a `direct-tcpip`
//! channel of the one before, and the last channel is the target's stream. Every event of a
//! chain carries its [`Hop`]; a failure names the hop and layer it happened at, and a refused
//! `direct-tcpip` channel is mapped to its cause (the jump host's forwarding policy, or the
//! next server as seen from the jump host).
//!
//! It never holds a secret of its own: credentials stay in the options' `Secret`s.

use russh::{ChannelOpenFailure, ChannelStream, client};
use serde_json::json;
use sshdiag_events::{ErrorType, Hop, Layer};

use super::attempt::{Link, Session};
use super::handshake::ProbeHandler;
use super::runner::precheck;
use crate::failure::{AtHop, Failure};
use crate::hints;
use crate::hostkey::TrustStore;
use crate::options::{JumpHost, ProbeOptions};
use crate::transport::Connector;

type Handle = client::Handle<ProbeHandler>;

/// The options of one jump host: the target's, with its own address, user, credentials and
/// the settings it has of its own (host key policy, connect timeout, algorithms), and nothing
/// to run there.
fn hop_options(target: &ProbeOptions, j: &JumpHost) -> ProbeOptions {
    let mut o = target.clone();
    o.host = j.host.clone();
    o.port = j.port;
    o.username = j.username.clone();
    if let Some(auth) = &j.auth {
        o.auth = auth.clone();
    }
    o.host_key_policy = j.host_key_policy.unwrap_or(o.host_key_policy);
    o.connect_timeout_ms = j.connect_timeout_ms.unwrap_or(o.connect_timeout_ms);
    if let Some(algorithms) = &j.algorithms {
        o.algorithms = algorithms.clone();
    }
    o.commands.clear();
    o.forward_probe = None;
    o.hold_ms = 0;
    o.jump.clear();
    o
}

/// How a hop is named in messages: "jump host 1 of 2 (bastion:22)".
pub(super) fn hop_name(index: usize, total: usize, host: &str, port: u16) -> String {
    format!("jump host {} of {total} ({host}:{port})", index + 1)
}

impl Session<'_> {
    /// The hop of server `index` of this run's chain (the target is the last).
    pub fn hop(&self, index: usize) -> Hop {
        let (host, port) = match self.opts.jump.get(index) {
            Some(j) => (j.host.clone(), j.port),
            None => (self.opts.host.clone(), self.opts.port),
        };
        Hop {
            index: index as u32,
            host,
            port,
        }
    }

    /// Pass through every jump host in order and return the stream to the target: a
    /// `direct-tcpip` channel of the last jump host. The jump hosts' sessions go into
    /// `chain`, which the caller keeps open as long as the target's session runs.
    pub async fn through_jump_hosts<C: Connector>(
        &mut self,
        connector: &mut C,
        trust: &mut dyn TrustStore,
        chain: &mut Vec<Handle>,
    ) -> Result<ChannelStream<client::Msg>, Failure> {
        chain.clear();
        self.rec.hop_phases.clear();
        let total = self.opts.jump.len();
        for index in 0..total {
            let channel = match chain.last() {
                Some(prev) => Some(self.open_next(prev, index - 1).await?),
                None => None,
            };
            let opts = hop_options(self.opts, &self.opts.jump[index]);
            self.rec.hop = Some(self.hop(index));
            let mut link = if index == 0 {
                self.link.clone()
            } else {
                Link::new(None)
            };
            let previous = index
                .checked_sub(1)
                .map(|p| format!("{}'s own address", self.hop_label(p)));
            let mut hop = Session::new(&opts, self.env.clone(), &mut *self.rec, &mut link);
            if channel.is_some() {
                // The server's log window starts when its jump host connected to it.
                hop.at.connected_unix_ms = Some(hop.env.now_unix_ms());
            }
            let name = hop_name(index, total, &opts.host, opts.port);
            let handle = hop_stages(&mut hop, connector, trust, channel)
                .await
                .map_err(|f| at_hop(f, &hop, &name, previous.as_deref()))?;
            chain.push(handle);
        }
        self.rec.hop = Some(self.hop(total));
        let Some(last) = chain.last() else {
            return Err(Failure::new(
                ErrorType::Internal,
                "no jump host to pass through",
            ));
        };
        let stream = self.open_next(last, total - 1).await?;
        self.at.connected_unix_ms = Some(self.env.now_unix_ms());
        Ok(stream)
    }

    /// "jump host 1 of 2 (bastion:22)" for jump host `index` of this run's chain.
    fn hop_label(&self, index: usize) -> String {
        let h = self.hop(index);
        hop_name(index, self.opts.jump.len(), &h.host, h.port)
    }

    /// Ask jump host `index` for a `direct-tcpip` channel to the next server.
    async fn open_next(
        &mut self,
        via: &Handle,
        index: usize,
    ) -> Result<ChannelStream<client::Msg>, Failure> {
        let total = self.opts.jump.len();
        let here = self.hop(index);
        let next = self.hop(index + 1);
        let target = format!("{}:{}", next.host, next.port);
        let name = hop_name(index, total, &here.host, here.port);
        let opened = via
            .channel_open_direct_tcpip(next.host.clone(), next.port as u32, "127.0.0.1", 0)
            .await;
        let reason = match opened {
            Ok(channel) => return Ok(channel.into_stream()),
            Err(russh::Error::ChannelOpenFailure(reason)) => reason,
            Err(e) => {
                let message = format!(
                    "{name} went away while opening a connection to {target}: {}",
                    crate::failure::scrub(&e.to_string())
                );
                let summary = format!("The {message}.");
                let f = Failure::new(ErrorType::Disconnected, message);
                self.rec.hop = Some(here.clone());
                return Err(mark(f, &here, Layer::Transport, summary));
            }
        };
        let (code, text) = hints::channel_failure(&reason);
        let message =
            format!("{name} accepted you; it could not open a connection to {target}: {text}");
        let summary = format!("The {message}.");
        let (error_type, hop, layer, fix) = match reason {
            ChannelOpenFailure::AdministrativelyProhibited => (
                ErrorType::ChannelOpenFailed,
                here,
                Layer::Channel,
                format!("{} forbids forwarding for this user: check `AllowTcpForwarding` (must not be `no` or `remote`) and `PermitOpen` (must allow {target}) in its sshd_config, and `restrict`/`permitopen=` in its authorized_keys.", here_host(&name)),
            ),
            ChannelOpenFailure::ConnectFailed => (
                ErrorType::ConnectionRefused,
                next,
                Layer::Tcp,
                format!("{target} as seen from {}: nothing accepts connections there, or a firewall between them refuses; check the name and port resolve on the jump host and the SSH server runs (try `nc -vz {} {}` on the jump host).", here_host(&name), self.hop(index + 1).host, self.hop(index + 1).port),
            ),
            _ => (
                ErrorType::ChannelOpenFailed,
                here,
                Layer::Channel,
                "The jump host refused the forwarding channel; its log (`journalctl -u ssh`) says why.".into(),
            ),
        };
        self.rec.hop = Some(hop.clone());
        let f = Failure::new(error_type, message)
            .ctx("reason_code", json!(code))
            .ctx(
                "jump_host",
                json!(format!("{}:{}", self.hop(index).host, self.hop(index).port)),
            )
            .ctx("target", json!(target))
            .hint(fix);
        Err(mark(f, &hop, layer, summary))
    }
}

/// "jump host 1 of 2 (bastion:22)" without its position, for hints.
fn here_host(name: &str) -> &str {
    name.split_once(" (")
        .map_or(name, |(_, h)| h.trim_end_matches(')'))
}

/// The stages of a jump host: its stream (the connector's for the first, `channel` of the
/// previous one for the others), handshake and authentication.
async fn hop_stages<C: Connector>(
    hop: &mut Session<'_>,
    connector: &mut C,
    trust: &mut dyn TrustStore,
    channel: Option<ChannelStream<client::Msg>>,
) -> Result<Handle, Failure> {
    let stages = async {
        precheck(hop).await?;
        let mut handle = match channel {
            None => {
                let stream = hop.connect_transport(connector).await?;
                hop.handshake(stream, trust).await?
            }
            Some(stream) => hop.handshake(stream, trust).await?,
        };
        hop.authenticate(&mut handle).await?;
        Ok(handle)
    };
    let result = stages.await;
    // The jump host's time counts in the run's phases, whether it passed or failed.
    for (phase, ms) in hop.at.clock.totals_at(hop.now()) {
        *hop.rec.hop_phases.entry(phase).or_insert(0.0) += ms;
    }
    result
}

/// A failure of jump host `hop`'s own stages: named after the hop, at the layer it reached,
/// with where to look in that jump host's log (`previous`: whose address it saw connect,
/// when it is not the first).
fn at_hop(f: Failure, hop: &Session<'_>, name: &str, previous: Option<&str>) -> Failure {
    if f.at_hop.is_some() {
        return f;
    }
    let mut f = f;
    let looked = hop.log_hints(&f, Some(name), previous);
    f.hints.extend(looked);
    let layer = f.failed_layer(hop.at.reached);
    let h = hop.rec.hop.clone().unwrap_or(Hop {
        index: 0,
        host: hop.opts.host.clone(),
        port: hop.opts.port,
    });
    let summary = format!(
        "At {name}: {}",
        hints::summary_failed(f.error_type, &f.message, &h.host, h.port)
    );
    f.message = format!("{name}: {}", f.message);
    mark(f, &h, layer, summary)
}

/// Name the hop and layer of a failure, and the verdict's summary.
fn mark(mut f: Failure, hop: &Hop, layer: Layer, summary: String) -> Failure {
    f.layer = Some(layer);
    f.at_hop = Some(Box::new(AtHop {
        host: hop.host.clone(),
        port: hop.port,
        summary,
    }));
    f.context.insert("hop".into(), json!(hop.index));
    f
}

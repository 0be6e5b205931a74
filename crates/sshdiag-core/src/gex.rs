//! The deep audit's measurement: on one extra connection, start a Diffie-Hellman group
//! exchange (RFC 4419) and read the size of the group the server hands out, instead of
//! trusting the algorithm's name. The exchange stops at `SSH_MSG_KEX_DH_GEX_GROUP`: banner,
//! KEXINIT offering only the group-exchange method, `SSH_MSG_KEX_DH_GEX_REQUEST`, the group,
//! close. No key is agreed, so no cryptography is needed and nothing is authenticated.
//!
//! It must never run unless asked (an extra unauthenticated connection is what
//! PerSourcePenalties and fail2ban count), never read past the unencrypted start of the
//! conversation, and never allocate what a hostile server announces beyond [`MAX_PACKET`].

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::options::CLIENT_VERSION;
use crate::tap::parse_kexinit;
use crate::wire::{MSG_KEXINIT, binary_packet, kexinit_payload};

/// The group sizes asked for, in bits: `min`, `n` (preferred), `max`. The minimum and the
/// preference are 1024, what the most permissive client accepts, so the answer is the
/// smallest group this server is willing to hand out; OpenSSH's sshd raises both to 2048.
pub const GEX_REQUEST_BITS: (u32, u32, u32) = (1024, 1024, 8192);

/// The largest unencrypted packet read (RFC 4253 asks for 35000 bytes at least).
pub const MAX_PACKET: usize = 256 * 1024;

/// The longest line and the most lines read before the server's identification.
const MAX_LINE: usize = 8 * 1024;
const MAX_PRE_LINES: usize = 64;

const MSG_DISCONNECT: u8 = 1;
const MSG_IGNORE: u8 = 2;
const MSG_DEBUG: u8 = 4;
const MSG_KEX_DH_GEX_GROUP: u8 = 31;
const MSG_KEX_DH_GEX_REQUEST: u8 = 34;

/// The group-exchange methods, strongest hash first.
pub const GEX_KEX: &[&str] = &[
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group-exchange-sha1",
];

/// What the server answered to the group request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GexAnswer {
    /// The group's prime `p` has this many bits.
    Group { bits: u32 },
    /// The server ended the connection instead, with its own words when it sent a
    /// disconnect message (OpenSSH does when the request's range is outside its own).
    Refused { reason: String },
}

/// Run the exchange over `stream` with `method` (one of [`GEX_KEX`]). An `Err` is a text for
/// the finding: the connection broke, or the server did not speak SSH as expected.
pub async fn measure<S>(mut stream: S, method: &str) -> Result<GexAnswer, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let io = |e: std::io::Error| format!("the connection failed: {e}");
    stream
        .write_all(format!("{CLIENT_VERSION}\r\n").as_bytes())
        .await
        .map_err(io)?;
    read_identification(&mut stream).await?;
    let server = loop {
        match read_packet(&mut stream).await? {
            Some(p) if p.first() == Some(&MSG_KEXINIT) => break p,
            Some(p) if p.first() == Some(&MSG_DISCONNECT) => return Ok(refused(&p)),
            Some(_) => continue,
            None => return Ok(closed()),
        }
    };
    let offer = parse_kexinit(&server).ok_or("the server's KEXINIT could not be parsed")?;
    if !offer.kex.iter().any(|k| k == method) {
        return Err(format!("the server no longer offers {method}"));
    }
    // Every other list is the server's own, so that negotiation cannot fail on them.
    let lists: [String; 10] = [
        method.to_string(),
        offer.host_key.join(","),
        offer.cipher_cs.join(","),
        offer.cipher_sc.join(","),
        offer.mac_cs.join(","),
        offer.mac_sc.join(","),
        or_none(&offer.compression_cs),
        or_none(&offer.compression_sc),
        String::new(),
        String::new(),
    ];
    let (min, n, max) = GEX_REQUEST_BITS;
    let mut request = vec![MSG_KEX_DH_GEX_REQUEST];
    for v in [min, n, max] {
        request.extend(v.to_be_bytes());
    }
    let mut out = binary_packet(&kexinit_payload(&lists));
    out.extend(binary_packet(&request));
    stream.write_all(&out).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let answer = loop {
        match read_packet(&mut stream).await? {
            Some(p) if p.first() == Some(&MSG_KEX_DH_GEX_GROUP) => {
                let bits = mpint_bits(&p[1..]).ok_or("the server's group message is malformed")?;
                break GexAnswer::Group { bits };
            }
            Some(p) if p.first() == Some(&MSG_DISCONNECT) => break refused(&p),
            Some(p) if matches!(p.first(), Some(&MSG_IGNORE | &MSG_DEBUG)) => continue,
            Some(p) => {
                return Err(format!(
                    "the server answered the group request with message {}",
                    p.first().copied().unwrap_or(0)
                ));
            }
            None => break closed(),
        }
    };
    let _ = stream.shutdown().await;
    Ok(answer)
}

fn or_none(list: &[String]) -> String {
    if list.is_empty() {
        "none".into()
    } else {
        list.join(",")
    }
}

fn closed() -> GexAnswer {
    GexAnswer::Refused {
        reason: "the server closed the connection without a word".into(),
    }
}

/// An SSH_MSG_DISCONNECT's description as the refusal's reason.
fn refused(payload: &[u8]) -> GexAnswer {
    let text = payload
        .get(5..)
        .and_then(|rest| {
            let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            rest.get(4..4 + len)
        })
        .map(|b| String::from_utf8_lossy(b).trim().to_string())
        .unwrap_or_default();
    GexAnswer::Refused {
        reason: if text.is_empty() {
            "the server disconnected".into()
        } else {
            format!(
                "the server disconnected: \"{}\"",
                crate::failure::scrub(&text)
            )
        },
    }
}

/// Skip the lines a server may send before its identification, then read that.
async fn read_identification<S: AsyncRead + Unpin>(stream: &mut S) -> Result<(), String> {
    for _ in 0..=MAX_PRE_LINES {
        let mut line = Vec::new();
        loop {
            let mut b = [0u8; 1];
            match stream.read(&mut b).await {
                Ok(0) => return Err("the server closed before its banner".into()),
                Ok(_) if b[0] == b'\n' => break,
                Ok(_) if line.len() < MAX_LINE => line.push(b[0]),
                Ok(_) => return Err("the server sent an overlong line before its banner".into()),
                Err(e) => return Err(format!("the connection failed: {e}")),
            }
        }
        if line.starts_with(b"SSH-2.0-") || line.starts_with(b"SSH-1.99-") {
            return Ok(());
        }
    }
    Err("the server sent no SSH banner".into())
}

/// One unencrypted binary packet's payload; `None` at the end of the stream.
async fn read_packet<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Option<Vec<u8>>, String> {
    let mut head = [0u8; 5];
    match stream.read_exact(&mut head).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(format!("the connection failed: {e}")),
    }
    let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let padding = head[4] as usize;
    if len > MAX_PACKET || len < padding + 1 {
        return Err(format!("the server sent a malformed packet (length {len})"));
    }
    let mut rest = vec![0u8; len - 1];
    stream
        .read_exact(&mut rest)
        .await
        .map_err(|e| format!("the connection failed: {e}"))?;
    rest.truncate(len - 1 - padding);
    Ok(Some(rest))
}

/// The bit length of the first mpint in `data` (RFC 4251 §5: two's complement, big endian,
/// a leading zero byte when the top bit is set).
fn mpint_bits(data: &[u8]) -> Option<u32> {
    let len = u32::from_be_bytes(data.get(..4)?.try_into().ok()?) as usize;
    let bytes = data.get(4..4 + len)?;
    let first = bytes.iter().position(|b| *b != 0)?;
    let top = bytes[first];
    Some((bytes.len() - first - 1) as u32 * 8 + (8 - top.leading_zeros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpint_bit_lengths() {
        let mpint = |b: &[u8]| {
            let mut v = (b.len() as u32).to_be_bytes().to_vec();
            v.extend(b);
            v
        };
        assert_eq!(mpint_bits(&mpint(&[0x00, 0xff, 0x01])), Some(16));
        assert_eq!(mpint_bits(&mpint(&[0x01, 0x00])), Some(9));
        let mut p1024 = vec![0x00, 0xc0];
        p1024.extend([0xffu8; 127]);
        assert_eq!(mpint_bits(&mpint(&p1024)), Some(1024));
        assert_eq!(mpint_bits(&mpint(&[])), None);
        assert_eq!(mpint_bits(&[0, 0, 0, 9, 1]), None);
    }

    /// A server that sends its banner, a KEXINIT and a 2048-bit group at once; the client's
    /// bytes are read back afterwards.
    #[tokio::test]
    async fn the_exchange_asks_for_the_range_and_reads_the_groups_size() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);

        let mut group = vec![MSG_KEX_DH_GEX_GROUP];
        group.extend(257u32.to_be_bytes());
        group.extend([0x00, 0x80]);
        group.extend([0u8; 255]);
        group.extend([0, 0, 0, 1, 2]);
        let mut sent = b"SSH-2.0-Test_1\r\n".to_vec();
        sent.extend(binary_packet(&crate::wire::minimal_kexinit(
            "curve25519-sha256,diffie-hellman-group-exchange-sha256",
            "hmac-sha2-256",
        )));
        sent.extend(binary_packet(&[MSG_IGNORE, 0, 0, 0, 0]));
        sent.extend(binary_packet(&group));
        server.write_all(&sent).await.unwrap();
        let method = GEX_KEX[0];
        assert_eq!(
            measure(client, method).await,
            Ok(GexAnswer::Group { bits: 2048 })
        );
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        let banner_end = got.iter().position(|b| *b == b'\n').unwrap() + 1;
        assert_eq!(
            &got[..banner_end],
            format!("{CLIENT_VERSION}\r\n").as_bytes()
        );
        let mut rest = &got[banner_end..];
        let ours = read_packet(&mut rest).await.unwrap().unwrap();
        let offer = parse_kexinit(&ours).unwrap();
        assert_eq!(offer.kex, vec![method.to_string()]);
        assert_eq!(offer.host_key, vec!["ssh-ed25519".to_string()]);
        let request = read_packet(&mut rest).await.unwrap().unwrap();
        let mut want = vec![MSG_KEX_DH_GEX_REQUEST];
        for v in [1024u32, 1024, 8192] {
            want.extend(v.to_be_bytes());
        }
        assert_eq!(request, want);
    }

    #[test]
    fn a_disconnect_gives_the_servers_words() {
        let mut p = vec![MSG_DISCONNECT, 0, 0, 0, 3];
        p.extend(9u32.to_be_bytes());
        p.extend(b"bad range");
        assert_eq!(
            refused(&p),
            GexAnswer::Refused {
                reason: "the server disconnected: \"bad range\"".into()
            }
        );
    }
}

//! The clear-text SSH framing the probe writes itself, outside russh: RFC 4253's unencrypted
//! binary packet and the KEXINIT payload. The deep audit's hand-played group exchange sends
//! them; tests that play a server by hand and the fuzz targets use the same two functions.
//! Framing only: no cryptography, no reading.

/// SSH_MSG_KEXINIT.
pub const MSG_KEXINIT: u8 = 20;

/// `payload` as an unencrypted binary packet (RFC 4253 §6): block size 8, at least 4 bytes of
/// zero padding, no MAC.
pub fn binary_packet(payload: &[u8]) -> Vec<u8> {
    let mut padding = 8 - (5 + payload.len()) % 8;
    if padding < 4 {
        padding += 8;
    }
    let mut packet = ((1 + payload.len() + padding) as u32)
        .to_be_bytes()
        .to_vec();
    packet.push(padding as u8);
    packet.extend(payload);
    packet.extend(std::iter::repeat_n(0u8, padding));
    packet
}

/// An SSH_MSG_KEXINIT payload with these ten name-lists (kex, host key, ciphers, MACs,
/// compression, languages; each client→server then server→client), a zero cookie and no
/// guessed packet.
pub fn kexinit_payload<S: AsRef<str>>(lists: &[S; 10]) -> Vec<u8> {
    let mut payload = vec![MSG_KEXINIT];
    payload.extend([0u8; 16]);
    for list in lists {
        let list = list.as_ref();
        payload.extend((list.len() as u32).to_be_bytes());
        payload.extend(list.as_bytes());
    }
    payload.extend([0u8; 5]);
    payload
}

/// The smallest KEXINIT payload: the key exchange methods `kex` (a name-list) and one algorithm
/// for every other category (ssh-ed25519, aes128-ctr, `mac`, no compression), for a
/// hand-played peer that only has to get a key exchange started.
pub fn minimal_kexinit(kex: &str, mac: &str) -> Vec<u8> {
    kexinit_payload(&[
        kex,
        "ssh-ed25519",
        "aes128-ctr",
        "aes128-ctr",
        mac,
        mac,
        "none",
        "none",
        "",
        "",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_is_framed_to_the_block_size_with_its_padding_counted() {
        for len in 0..40 {
            let payload = vec![7u8; len];
            let packet = binary_packet(&payload);
            assert_eq!(packet.len() % 8, 0, "{len}");
            let declared = u32::from_be_bytes([packet[0], packet[1], packet[2], packet[3]]);
            assert_eq!(declared as usize, packet.len() - 4);
            let padding = packet[4] as usize;
            assert!(padding >= 4);
            assert_eq!(&packet[5..5 + len], &payload[..]);
        }
    }

    #[test]
    fn a_kexinit_payload_parses_back_to_its_lists() {
        let lists = ["a,b", "c", "d", "d", "e", "e", "none", "none", "", ""];
        let parsed = crate::tap::parse_kexinit(&kexinit_payload(&lists)).unwrap();
        assert_eq!(parsed.kex, ["a", "b"]);
        assert_eq!(parsed.host_key, ["c"]);
        assert_eq!(parsed.compression_sc, ["none"]);
    }
}

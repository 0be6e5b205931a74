//! SSH wire pieces for tests that play a server by hand (a KEXINIT from a listener that then
//! stalls, a scripted key exchange): RFC 4253's unencrypted binary packet and its name-lists.
//! Only framing; no cryptography.

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
/// compression and languages, each client→server then server→client), a fixed cookie and
/// no guessed packet.
pub fn kexinit_payload(lists: [&str; 10]) -> Vec<u8> {
    let mut payload = vec![20u8];
    payload.extend([7u8; 16]);
    for list in lists {
        payload.extend((list.len() as u32).to_be_bytes());
        payload.extend(list.as_bytes());
    }
    payload.extend([0, 0, 0, 0, 0]);
    payload
}

//! The unencrypted start of an SSH conversation as the tap reads it: identification lines,
//! lines before the banner, binary packets up to NEWKEYS, KEXINIT payloads.

use sshdiag_core::prebanner::{self, Ending};
use sshdiag_core::tap::{Tap, TapNote, parse_kexinit};
use sshdiag_events::Proposal;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc::unbounded_channel;

/// The tap must pass every byte through unchanged, in both directions and whatever the read
/// sizes, keep its notes bounded, and the pre-banner interpretation must accept what it keeps.
pub fn tap(data: &[u8]) {
    // The first byte picks the read size, so packets arrive split at every boundary.
    let chunk = data.first().map_or(1, |b| usize::from(*b % 64) + 1);
    let (notes_tx, mut notes) = unbounded_channel();
    let (mut inbound, handle) = Tap::new(data, notes_tx.clone());
    let mut seen = Vec::with_capacity(data.len());
    let mut buf = vec![0u8; chunk];
    futures::executor::block_on(async {
        loop {
            match inbound.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    });
    assert_eq!(seen, data, "the tap changed the bytes it read");
    assert_eq!(
        handle.bytes().1,
        data.len() as u64,
        "the tap miscounted bytes in"
    );

    let (mut outbound, out_handle) = Tap::new(Vec::new(), notes_tx);
    futures::executor::block_on(async {
        for piece in data.chunks(chunk) {
            let _ = outbound.write_all(piece).await;
        }
    });
    assert_eq!(
        out_handle.bytes().0,
        data.len() as u64,
        "the tap miscounted bytes out"
    );

    let lines = handle.pre_banner_lines();
    assert!(
        lines.len() <= 32,
        "the tap kept {} pre-banner lines",
        lines.len()
    );
    assert!(
        lines.iter().all(|l| l.chars().count() <= 1024),
        "a pre-banner line over the cap"
    );
    while let Ok(note) = notes.try_recv() {
        if let TapNote::ServerBanner {
            pre_banner_lines, ..
        } = note
        {
            assert!(pre_banner_lines.len() <= 32);
        }
    }
    for ending in [Ending::Reset, Ending::Closed, Ending::Silent, Ending::Drip] {
        let _ = prebanner::summary(ending, &lines, "example.com", 22);
        let _ = prebanner::hints(ending, &lines, "example.com", 22);
        let _ = prebanner::message(ending, &lines);
    }
}

/// A KEXINIT payload: what parses must encode back to a payload that parses the same.
pub fn kexinit(data: &[u8]) {
    // Half the inputs get a valid header, so the name-lists themselves are reached.
    let payload: Vec<u8> = if data.first().is_some_and(|b| b & 1 == 1) {
        let mut p = vec![20u8];
        p.extend_from_slice(&[0u8; 16]);
        p.extend_from_slice(&data[1..]);
        p
    } else {
        data.to_vec()
    };
    let Some(proposal) = parse_kexinit(&payload) else {
        return;
    };
    let again = encode_kexinit(&proposal);
    assert_eq!(
        parse_kexinit(&again).as_ref(),
        Some(&proposal),
        "a KEXINIT does not survive its own encoding"
    );
}

/// `proposal` as an SSH_MSG_KEXINIT payload (empty language lists).
fn encode_kexinit(proposal: &Proposal) -> Vec<u8> {
    let joined = |list: &Vec<String>| list.join(",");
    sshdiag_core::wire::kexinit_payload(&[
        joined(&proposal.kex),
        joined(&proposal.host_key),
        joined(&proposal.cipher_cs),
        joined(&proposal.cipher_sc),
        joined(&proposal.mac_cs),
        joined(&proposal.mac_sc),
        joined(&proposal.compression_cs),
        joined(&proposal.compression_sc),
        String::new(),
        String::new(),
    ])
}

/// The deep audit's group exchange, with `data` as everything the server sends: it ends in a
/// group size, a refusal or a text, and a group size is never more bits than were sent.
pub fn gex(data: &[u8]) {
    let stream = tokio::io::join(data, tokio::io::sink());
    let method = sshdiag_core::gex::GEX_KEX[0];
    let answer = futures::executor::block_on(sshdiag_core::gex::measure(stream, method));
    if let Ok(sshdiag_core::gex::GexAnswer::Group { bits }) = answer {
        assert!(
            bits as usize <= data.len() * 8,
            "{bits} bits from {} bytes",
            data.len()
        );
    }
}
